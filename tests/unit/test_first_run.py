"""What a new user tripped on, each pinned: bad values end in one line and exit 2, a box outside its image is refused
with its line, `--bundled-settings` gives a served bundled model the bundled run's settings and every run says which
settings are in force, and the demo's summary says what 50 items can show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, read_jsonl
from catts_graph.cli import build_parser, main, parse
from catts_graph.cli.evaluate import job_from
from catts_graph.shapes.bundled import BUNDLED_VOTER_FORM

DOWN = "http://127.0.0.1:9"  # nothing listens there


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value"), [("--temperature", "-1"), ("--temperature", "9"), ("--max-tokens", "0"), ("--window", "0")]
)
def test_a_value_the_config_refuses_is_one_line_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code = main(["eval", "--base-url", DOWN, option, value, "--out", str(tmp_path / "out")])
    line = one_error_line(capsys.readouterr().err)
    assert code == 2 and line.startswith("catts eval: error: ") and option in line
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_catts_run_refuses_a_negative_temperature_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--base-url", DOWN, "--image", "x.png", "--question", "q", "--temperature", "-1"])
    assert code == 2 and "--temperature" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "--concurrency", "0", "--out", "o"],
        ["eval", "--concurrency", "-3", "--out", "o"],
        ["demo", "--concurrency", "0"],
        ["demo", "--items", "0"],
        ["probe", "--concurrency", "0", "--out", "o"],
    ],
)
def test_a_count_below_one_is_refused_when_parsing(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(build_parser(), args)
    line = one_error_line(capsys.readouterr().err)
    assert exit_.value.code == 2 and args[1] in line and "--help" in line


def test_any_parse_error_is_one_line_that_points_to_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(build_parser(), ["eval", "--limit", "abc", "--out", "o"])
    line = one_error_line(capsys.readouterr().err)
    assert exit_.value.code == 2 and "--limit" in line and "catts eval --help" in line


def write_items(tmp_path: Path, boxes: list[list[float]], size: tuple[int, int] = (64, 64)) -> Path:
    Image.new("RGB", size).save(tmp_path / "a.png")
    good = {"id": "1", "image": "a.png", "question": "How many?", "answer": "2", "boxes": [[0, 0, 64, 64]]}
    path = tmp_path / "items.jsonl"
    lines = [good, {**good, "id": "2", "boxes": boxes}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize("box", [[-5, -5, 900, 900], [10, 10, 65, 20], [0, 0, 0.5, 64.5]])
def test_a_box_outside_its_image_is_refused_with_its_line(tmp_path: Path, box: list[float]) -> None:
    with pytest.raises(BenchmarkError, match=r"items\.jsonl:2: .*outside the 64 x 64 image"):
        read_jsonl(write_items(tmp_path, [box]))
    items, skipped = read_jsonl(write_items(tmp_path, [box]), skip_bad_lines=True)
    assert [item.id for item in items] == ["1"] and "items.jsonl:2" in skipped[0]


def test_boxes_on_the_image_edges_are_kept(tmp_path: Path) -> None:
    items, _ = read_jsonl(write_items(tmp_path, [[0, 0, 64, 64], [63.5, 0, 64, 1]]))
    assert items[1].boxes == ((0.0, 0.0, 64.0, 64.0), (63.5, 0.0, 64.0, 1.0))


def test_bundled_settings_give_a_served_bundled_model_the_bundled_runs_settings() -> None:
    parser = build_parser()
    plain = job_from(parse(parser, ["eval", "--base-url", "http://x", "--out", "o"])).settings.config
    bundled = job_from(parse(parser, ["eval", "--out", "o"])).settings.config
    flagged = job_from(
        parse(parser, ["eval", "--base-url", "http://x", "--bundled-settings", "--out", "o"])
    ).settings.config
    assert plain.vote.voter_form == "text" and plain.steps.bias is None
    assert flagged == bundled and flagged.vote.voter_form == BUNDLED_VOTER_FORM and flagged.steps.bias is not None
    run_args = parse(
        parser, ["run", "--base-url", "http://x", "--bundled-settings", "--image", "x", "--question", "q"]
    )
    assert run_args.bundled_settings


def test_the_settings_line_names_what_differs_from_the_bundled_run() -> None:
    from catts_graph.cli.settings import settings_line

    parser = build_parser()
    plain = job_from(parse(parser, ["eval", "--base-url", "http://x", "--out", "o"])).settings.config
    line = settings_line(plain, relevance=False, bundled_settings=False)
    assert line.startswith("settings: ") and "N 8" in line and "temperature 1" in line
    assert "Voter form text" in line and "whole image" in line and "--bundled-settings" in line
    bundled = job_from(parse(parser, ["eval", "--out", "o"])).settings.config
    line = settings_line(bundled, relevance=True, bundled_settings=True)
    assert "Voter form answer" in line and "CLIP" in line and "--bundled-settings" not in line


def test_every_eval_prints_its_settings_before_it_calls_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "--base-url", DOWN, "--limit", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the model server" in err
    assert err.index("settings: ") < err.index("cannot reach")


def test_the_demo_summary_carries_paired_intervals_and_says_what_50_items_show() -> None:
    from catts_graph.cli.demo import verdict

    rows = [
        {
            "gold": "1",
            "greedy": "1" if i % 7 else "2",
            "majority": "1" if i % 5 else "2",
            "expert_greedy": "1" if i % 3 else "2",
            "catts": "1",
        }
        for i in range(50)
    ]
    text = verdict(rows)
    assert "95% CI" in text and text.count("points") >= 3 and "against the expert alone +34 points" in text
    assert "catts eval --benchmark shapes --limit 500" in text and "docs/results.md" in text
    assert "50 items" in text and "2 points" in text
