"""Bad input through the public doors: the API raises a typed exception, the CLI prints one clear line and exits 2
without a traceback, and nothing is written. (Image decoding itself: test_image_inputs.py.)"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_stubs import Reply, StubServer
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, read_jsonl
from catts_graph.cli import main
from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.errors import ContextTooLongError
from catts_graph.serving.server import RunningServer
from nodes.errors import InvalidImageError, InvalidInputError
from nodes.images import MAX_PIXELS
from nodes.inputs import MAX_QUESTION_CHARS, validate_input

NOWHERE = "http://127.0.0.1:9"  # nothing listens: every refusal below must happen before any model call


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 255 if mode == "1" else None).save(buf, format="PNG")
    return buf.getvalue()


BAD_IMAGES: dict[str, tuple[Callable[[], bytes], str]] = {
    "corrupt": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not an image|corrupt|could not be opened"),
    "truncated": (lambda: _png((64, 64))[:-40], "corrupt or truncated|could not be opened"),
    "not-an-image": (lambda: b"#!/bin/sh\necho hello\n", "not an image PIL can read"),
    "empty-file": (lambda: b"", "not an image PIL can read"),
    "decompression-bomb": (lambda: _png((int(MAX_PIXELS**0.5) + 10,) * 2, "1"), "above the limit"),
    "extreme-aspect": (lambda: _png((1, 400)), "times longer than wide"),
}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_one_clear_line(err: str, command: str) -> None:
    """The error is one line; only the settings line that every run prints at its start may come before it."""
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("settings: ")]
    assert len(lines) == 1 and lines[0].startswith(f"catts {command}: error: "), err


@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_bad_image_files_are_refused_by_the_api_and_the_cli(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, match = BAD_IMAGES[kind]
    path = tmp_path / f"{kind}.png"
    path.write_bytes(data())
    with pytest.raises(InvalidImageError, match=match):
        validate_input({"question": "How many shapes are there?", "images": [str(path)]})
    code, err = cli(capsys, "run", "--base-url", NOWHERE, "--image", str(path), "--question", "How many?")
    assert code == 2 and path.name in err
    assert_one_clear_line(err, "run")


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"question": " "}, "question is empty"),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, "the limit is"),
        ({"question": "Which?", "choices": ["red", "red "]}, "two choices are the same"),
        ({"question": "Which?", "choices": ["red", ""]}, "a choice is empty"),
        ({"question": "Which?", "choices": ["red"]}, "between 2 and 26"),
        ({"question": "Which?", "images": ["https://example.com/a.png"]}, "remote image URL"),
        ({"question": "Which?", "images": "a.png"}, "must be a list"),
    ],
)
def test_bad_questions_and_choices_raise_typed_errors(inputs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        validate_input(inputs)


def test_cli_refuses_duplicate_choices_and_remote_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(_png((32, 32)))
    base = ["run", "--base-url", NOWHERE, "--question", "Which colour?"]
    code, err = cli(capsys, *base, "--image", str(image), "--choices", "red", "Red")
    assert code == 2 and "two choices are the same" in err
    assert_one_clear_line(err, "run")
    code, err = cli(capsys, *base, "--image", "https://example.com/a.png")
    assert code == 2 and "--allow-remote-images" in err
    assert_one_clear_line(err, "run")


# -- benchmark files --------------------------------------------------------------------------------------------------
def _bench(folder: Path, records: list[object]) -> Path:
    """A benchmark file of `records`: dicts as JSON, strings as they are, bytes written raw (any encoding)."""
    (folder / "a.png").write_bytes(_png((32, 32)))
    path = folder / "bench.jsonl"
    lines = [r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode() for r in records]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


GOOD = {"id": "1", "image": "a.png", "question": "How many shapes are there?", "answer": "2"}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ('{"id": "2", "image": "a.png"', "bench.jsonl:2: not valid JSON"),
        ({**GOOD, "id": "2", "image": "../outside.png"}, "bench.jsonl:2: image path '../outside.png' leaves"),
        ({**GOOD, "id": "2", "image": "link.png"}, "bench.jsonl:2: image path 'link.png' leaves"),
        ({**GOOD, "id": "2", "image": "https://example.com/a.png"}, "bench.jsonl:2: .*--allow-remote-images"),
        ({**GOOD, "id": "2", "image": "broken.png"}, "bench.jsonl:2: .*corrupt or truncated"),
        ({**GOOD, "id": "2", "choices": ["a", "a"], "answer": "A"}, "bench.jsonl:2: two choices are the same"),
        ({**GOOD, "id": "2", "question": "   "}, "bench.jsonl:2: the question is empty"),
        (b'{"id": "2", "image": "a.png", "question": "Qu\xe9?", "answer": "2"}', "bench.jsonl:2: not UTF-8 text"),
    ],
)
def test_bad_benchmark_lines_stop_catts_eval_before_it_writes_anything(
    bad: object, match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    (tmp_path / "outside.png").write_bytes(_png((32, 32)))
    (folder / "link.png").symlink_to(tmp_path / "outside.png")  # a symlink out of the folder is an escape too
    (folder / "broken.png").write_bytes(_png((64, 64))[:-40])
    path = _bench(folder, [GOOD, bad, {**GOOD, "id": "3"}])
    with pytest.raises(BenchmarkError, match=match):
        read_jsonl(path)
    out = tmp_path / "out"
    code, err = cli(capsys, "eval", "--benchmark", f"jsonl:{path}", "--base-url", NOWHERE, "--out", str(out))
    assert code == 2 and "--skip-bad-lines" in err
    assert_one_clear_line(err, "eval")
    assert not out.exists()  # no partial outputs


@pytest.mark.vllm
def test_skip_bad_lines_evaluates_the_rest_and_reports_each_skipped_line(
    vllm_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bench(tmp_path, [GOOD, "not json", {**GOOD, "id": "3"}, {"id": "4"}])
    out = tmp_path / "out"
    code, err = cli(
        capsys, "eval", "--benchmark", f"jsonl:{path}", "--base-url", vllm_server.base_url, "--model",
        vllm_server.model, "--methods", "greedy", "--max-tokens", "32", "--skip-bad-lines", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "skipped: " in err and "bench.jsonl:2:" in err and "bench.jsonl:4:" in err
    ids = [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["1", "3"]


# -- a question beyond the model's context window ---------------------------------------------------------------------
@pytest.mark.vllm
async def test_a_question_beyond_the_context_window_raises_a_typed_error(
    vllm_server: RunningServer, shapes_image: Path
) -> None:
    question = "How many red shapes are there? " * 200  # about 1,400 tokens; the server's window is 1,024
    assert len(question) <= MAX_QUESTION_CHARS  # under the input limit: the server's own limit applies
    config = CATTSConfig.model_validate({"sampling": {"n": 2, "max_tokens": 16}})
    async with vllm_server.client() as model:
        graph = create_catts_graph(model, config=config)
        with pytest.raises(ContextTooLongError, match="Shorten the question"):
            await graph.ainvoke({"question": question, "images": [str(shapes_image)]})


@pytest.mark.vllm
def test_the_cli_reports_a_question_beyond_the_context_window_in_one_line(
    vllm_server: RunningServer, shapes_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = cli(
        capsys, "run", "--base-url", vllm_server.base_url, "--image", str(shapes_image), "--n", "2",
        "--question", "How many red shapes are there? " * 200,
    )  # fmt: skip
    assert code == 2 and "Shorten the question" in err
    assert_one_clear_line(err, "run")


@pytest.mark.vllm
async def test_extreme_but_allowed_aspect_ratios_and_tiny_images_are_served(
    vllm_server: RunningServer, tmp_path: Path
) -> None:
    from nodes.protocol import Message, SamplingParams

    async with vllm_server.client() as model:
        for size in [(1, 1), (2, 300), (300, 2)]:
            path = tmp_path / f"{size[0]}x{size[1]}.png"
            path.write_bytes(_png(size))
            samples = await model.sample(
                [Message.user("How many shapes are there?", images=[path])], SamplingParams(n=1, max_tokens=8)
            )
            assert len(samples) == 1 and samples[0].completion_tokens > 0


def test_remote_images_in_a_benchmark_are_downloaded_only_when_allowed(
    tmp_path: Path, stub_server: Callable[[Callable[[str, str], Reply]], StubServer]
) -> None:
    server = stub_server(lambda method, path: Reply(200, _png((24, 24)), "image/png"))
    path = _bench(tmp_path, [{**GOOD, "image": server.base_url + "/a.png"}])
    with pytest.raises(BenchmarkError, match="--allow-remote-images"):
        read_jsonl(path)
    assert server.requests == []  # refused without a single request
    items, _ = read_jsonl(path, allow_remote_images=True)
    assert items[0].image.startswith("data:image/png;base64,") and len(server.requests) == 1
