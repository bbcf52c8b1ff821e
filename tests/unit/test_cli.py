"""CLI user errors: one clear line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from in_process import catts

from nodes.errors import InvalidInputError


def catts_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, in its own interpreter (the other cases run `main` in this process: `in_process`)."""
    return subprocess.run(
        [sys.executable, "-m", "catts_graph", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_help_teaches() -> None:
    result = catts_process("--help")
    assert result.returncode == 0
    for command in ("serve", "make-tiny-model", "demo"):
        assert command in result.stdout
    serve_help = catts("serve", "--help").stdout
    assert "examples:" in serve_help and "--max-logprobs 21" in serve_help


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "no/such/model/dir"), "no model folder"),
        (("serve", "."), "no config.json"),
        (("serve", "catts_graph/shapes/models/shapes-base", "--max-model-len", "4096"), "has 2048 positions"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: tuple[str, ...], message: str) -> None:
    result = catts(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_make_tiny_model_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    result = catts("make-tiny-model", str(tmp_path))
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def image(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "ok.png"
    Image.new("RGB", (28, 28)).save(path)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "missing.png", "--question", "q"], "does not exist"),
        (["--image", "CORRUPT", "--question", "q"], "not an image"),
        (["--image", "OK", "--question", "   "], "question is empty"),
        (["--image", "OK", "--question", "q", "--choices", "only"], "between 2 and 26"),
        (["--image", "OK", "--question", "q", "--choices", "a", "a"], "the same"),
        (["--image", "OK", "--question", "q"], "cannot reach the model server"),
        (["--image", "OK", "--question", "q", "--expert-base-url", "http://127.0.0.1:9"], "--expert-model"),
        (["--image", "OK", "--question", "q", "--min-weakest-step", "1.5"], "min_weakest_step"),
        (["--image", "OK", "--question", "q", "--step-weights", "no/such.json"], "catts calibrate RUN --steps"),
    ],
)
def test_run_user_errors(tmp_path: Path, image: Path, extra: list[str], message: str) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    args = [str(image) if a == "OK" else str(corrupt) if a == "CORRUPT" else a for a in extra]
    result = catts("run", "--base-url", "http://127.0.0.1:9", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_shapes_make_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert catts("shapes", "make", "--n", "3", "--seed", "4", "--out", str(tmp_path / name)).returncode == 0
    assert (tmp_path / "a" / "items.jsonl").read_bytes() == (tmp_path / "b" / "items.jsonl").read_bytes()
    assert catts("shapes", "make", "--n", "0", "--out", str(tmp_path / "c")).returncode == 2


def test_train_sft_argument_errors(tmp_path: Path) -> None:
    result = catts("train", "sft", "--role", "expert", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "--init" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--base-url", "http://127.0.0.1:9", "--image", "OK", "--question", "q", "--clip", "no/such"], "clip"),
        (["eval", "--base-url", "http://127.0.0.1:9", "--rh-auc", "--budgets", "16", "--out", "OUT"], "at least two"),
        (
            ["eval", "--base-url", "http://127.0.0.1:9", "--judge-base-url", "http://x", "--out", "OUT"],
            "--judge-model",
        ),
        (["probe", "--base-url", "http://127.0.0.1:9", "--region", "question", "--out", "OUT"], "--clip"),
        (["probe", "--base-url", "http://127.0.0.1:9", "--top-fraction", "0", "--out", "OUT"], "--top-fraction"),
        (["train", "clip", "--steps", "0", "--out", "OUT"], "--steps"),
        (["eval", "--base-url", "http://127.0.0.1:9", "--box-frame", "normalized", "--out", "OUT"], "--grounded"),
        (
            ["eval", "--base-url", "http://x", "--grounded", "--box-frame", "resized:a:b", "--out", "OUT"],
            "MIN and MAX",
        ),
        (
            ["eval", "--base-url", "http://x", "--grounded", "--box-frame", "pixels", "--out", "OUT"],
            "expected resized",
        ),
        (
            ["eval", "--base-url", "http://x", "--grounded", "--box-frame", "normalized:0", "--out", "OUT"],
            "SCALE is the grid's largest coordinate",
        ),
        (["probe", "--base-url", "http://127.0.0.1:9", "--region", "model", "--out", "OUT"], "grounding"),
        (["train", "grounding", "--model", "OUT", "--data", "OUT", "--out", "OUT"], "not a model folder"),
        (["train", "boundary", "--model", "OUT", "--data", "OUT", "--out", "OUT"], "not a model folder"),
        (["train", "boundary", "--model", "MODEL", "--data", "OUT", "--out", "OUT"], "has no pairs.jsonl"),
        (
            ["train", "boundary", "--model", "MODEL", "--data", "PAIRS", "--out", "OUT", "--sft-steps", "-1"],
            "--sft-steps",
        ),
        (["train", "sft", "--role", "grounded", "--out", "OUT"], "--init"),
        (["train", "sft", "--role", "self", "--out", "OUT"], "--init"),
        (["train", "sft", "--role", "base", "--out", "OUT", "--location-bins", "56"], "--role grounded"),
    ],
)
def test_new_option_errors_exit_2_without_traceback(
    tmp_path: Path, image: Path, args: list[str], message: str
) -> None:
    model, pairs = tmp_path / "model", tmp_path / "pairs"
    for folder, name in ((model, "config.json"), (pairs, "pairs.jsonl")):
        folder.mkdir()
        (folder / name).write_text("{}")
    named = {"OK": image, "OUT": tmp_path / "out", "MODEL": model, "PAIRS": pairs}
    result = catts(*[str(named[a]) if a in named else a for a in args])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_grounding_options_set_the_graphs_grounding() -> None:
    from catts_graph.cli import build_parser, parse
    from catts_graph.cli.evaluate import job_from
    from nodes.grounding import BoxFrame

    parser = build_parser()
    plain = job_from(parse(parser, ["eval", "--base-url", "http://x", "--out", "o"])).settings.config
    assert not plain.grounding.enabled and plain.self_check.noise.region == "question"
    args = parse(
        parser, ["eval", "--base-url", "http://x", "--grounded", "--box-frame", "resized:3136:50176", "--out", "o"]
    )
    config = job_from(args).settings.config
    assert config.grounding.enabled and config.grounding.max_pixels == 50176
    assert config.self_check.noise.region == "model" and config.sampling.max_tokens == 192
    located = parse(parser, ["eval", "--base-url", "x", "--grounded", "--box-frame", "normalized:55", "--out", "o"])
    assert job_from(located).settings.config.grounding.box_frame() == BoxFrame.location_bins(56)
    bundled = job_from(parse(parser, ["eval", "--grounded", "--self-check-region", "question", "--out", "o"]))
    grounding = bundled.settings.config.grounding
    assert grounding.box_frame().input_size(112, 112) == (224, 224)  # the bundled models' frame
    assert bundled.settings.config.self_check.noise.region == "question"


def test_serve_options_may_follow_the_model_and_vllm_flags_follow_the_double_dash() -> None:
    from catts_graph.cli import build_parser, parse

    parser = build_parser()
    args = parse(parser, ["serve", "m", "--port", "8000", "--max-model-len", "1024", "--", "--max-num-seqs", "8"])
    assert (args.model, args.port, args.max_model_len) == ("m", 8000, 1024)
    assert args.passthrough == ["--max-num-seqs", "8"]
    assert parse(parser, ["serve", "m"]).passthrough == []
    with pytest.raises(SystemExit):  # a vLLM flag before `--` is an error, not silently passed on
        parse(parser, ["serve", "m", "--max-num-seqs", "8"])


def test_the_examples_name_a_serve_command_that_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import shlex

    from catts_graph.cli import build_parser, parse

    spec = importlib.util.spec_from_file_location("examples_common", Path("examples/_common.py"))
    assert spec is not None and spec.loader is not None
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    monkeypatch.delenv("CATTS_BASE_URL", raising=False)
    with pytest.raises(SystemExit) as info:
        common.endpoint()
    command = str(info.value.code).split("`")[1]
    assert command.startswith("catts serve ")
    args = parse(build_parser(), shlex.split(command)[1:])  # argparse exits on a flag that does not exist
    assert Path(args.model, "config.json").is_file()


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each subcommand's one-line help, as the COMMAND list shows it."""
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: str(choice.help) for choice in action._choices_actions}


def _example_commands(text: str) -> Iterator[tuple[list[str], str]]:
    """(argv, comment) of every `catts ...` line of a help text; continuation lines joined, `cmd && cmd` split."""
    for line in re.sub(r"\s*\\\n\s*", " ", text).splitlines():
        if not line.lstrip().startswith("catts "):
            continue
        parts = re.split(r"\s{2,}(?![\s-])", line.strip(), maxsplit=1)  # a comment follows two spaces
        command, comment = parts[0], parts[1] if len(parts) > 1 else ""
        for one in command.split(" && "):
            words = shlex.split(one.split(" > ")[0])
            yield words[1:], comment


def test_the_confidence_option_sets_the_declared_confidence() -> None:
    from catts_graph.cli import build_parser, parse
    from catts_graph.cli.evaluate import job_from

    parser = build_parser()
    plain = job_from(parse(parser, ["eval", "--base-url", "http://x", "--out", "o"])).settings.config
    assert plain.confidence.source == "auto"
    args = parse(parser, ["eval", "--base-url", "http://x", "--confidence", "nmlp", "--out", "o"])
    assert job_from(args).settings.config.confidence.source == "nmlp"
    assert plain.confidence.elicit == "missing"
    every = ["eval", "--base-url", "http://x", "--confidence", "stated", "--elicit", "all", "--out", "o"]
    confidence = job_from(parse(parser, every)).settings.config.confidence
    assert (confidence.source, confidence.elicit) == ("stated", "all")
    with pytest.raises(InvalidInputError, match="source='stated'"):  # every statement elicited reads the statements
        job_from(parse(parser, ["eval", "--base-url", "http://x", "--elicit", "all", "--out", "o"]))


def test_every_example_in_the_help_is_a_command_that_parses() -> None:
    from catts_graph.cli import build_parser, parse

    seen, wrong = 0, []
    for each in _parsers(build_parser()):
        for argv, _ in _example_commands(each.format_help()):
            seen += 1
            try:
                parse(build_parser(), argv)
            except SystemExit:  # argparse's answer to a missing argument or a flag or command that does not exist
                wrong.append(shlex.join(["catts", *argv]))
    assert seen > 20 and wrong == []


def test_the_start_here_lines_describe_their_commands_as_the_commands_do() -> None:
    from catts_graph.cli import build_parser

    parser = build_parser()
    summaries = _summaries(parser)
    examples = list(_example_commands(str(parser.description)))
    assert len(examples) >= 3
    for argv, comment in examples:
        assert comment == summaries[argv[0]], argv


def test_benchmark_and_clip_options_say_what_they_take_in_each_command() -> None:
    from catts_graph.benchmarks import PUBLIC
    from catts_graph.cli import build_parser

    options = {
        (each.prog, option): str(action.help)
        for each in _parsers(build_parser())
        for action in each._actions
        for option in action.option_strings
    }
    benchmark_helps = [text for (_, option), text in options.items() if option == "--benchmark"]
    assert len(benchmark_helps) == 3  # eval, probe, data pairs
    for text in benchmark_helps:
        assert all(name in text for name in ("shapes", "jsonl:PATH", *PUBLIC)), text
    assert "--region question" in options["catts probe", "--clip"]  # the probe has no self-check
    assert "self-check" in options["catts eval", "--clip"]


@pytest.fixture
def without_open_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("open_clip", "open_clip.model"):
        monkeypatch.setitem(sys.modules, name, None)  # as without the `train` extra: importing it fails


@pytest.mark.usefixtures("without_open_clip")
def test_without_the_train_extra_the_bundled_clip_is_left_out_and_said_so(capsys: pytest.CaptureFixture[str]) -> None:
    from catts_graph.cli.endpoints import load_relevance

    assert load_relevance(None, bundled=True) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning:") and "Traceback" not in err
    assert "uv sync --extra cpu --extra train" in err and "whole image" in err and "records that fallback" in err


@pytest.mark.usefixtures("without_open_clip")
@pytest.mark.parametrize(
    ("spec", "required"),
    [("catts_graph/shapes/models/shapes-clip", False), ("open_clip:ViT-B-32", False), (None, True)],
)
def test_a_clip_asked_for_without_the_train_extra_is_a_user_error(spec: str | None, required: bool) -> None:
    from catts_graph.cli.endpoints import load_relevance
    from nodes.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"needs the `train` extra .*uv sync --extra cpu --extra train"):
        load_relevance(spec, bundled=True, required=required)


@pytest.mark.usefixtures("without_open_clip")
def test_data_pairs_by_question_without_the_train_extra_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from catts_graph.cli import main

    assert main(["data", "pairs", "--limit", "1", "--region", "question", "--out", str(tmp_path / "pairs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the bundled ShapesVQA CLIP needs the `train` extra" in err and "uv sync --extra cpu --extra train" in err


def test_catts_methods_can_name_the_self_check_region() -> None:
    from catts_graph.cli import build_parser, parse
    from catts_graph.cli.evaluate import job_from
    from catts_graph.evaluation.catts_runs import catts_config

    parser = build_parser()
    args = parse(parser, ["eval", "--grounded", "--methods", "catts-paper/model,catts-paper/question", "--out", "o"])
    config = job_from(args).settings.config
    regions = {
        m: catts_config(m, 8, config)[0].self_check.noise.region for m in ("catts-paper/question", "catts-paper")
    }
    assert regions == {"catts-paper/question": "question", "catts-paper": "model"}
    assert catts_config("catts-adaptive/global", 4, config)[0].routing.policy == "adaptive"
    with pytest.raises(InvalidInputError, match="enable grounding"):
        job_from(parse(parser, ["eval", "--methods", "catts-paper/model", "--out", "o"]))


@pytest.mark.parametrize(("given", "kept"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_commands_keep_torch_threads_from_spinning_unless_told(
    monkeypatch: pytest.MonkeyPatch, given: str | None, kept: str
) -> None:
    if given is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    assert catts("serve", "no/such/model/dir").returncode == 2
    assert os.environ["OMP_WAIT_POLICY"] == kept
