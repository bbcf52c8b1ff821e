"""Fuzzing (hypothesis) of everything that reads text it does not control: answer extraction from model output, the
benchmark JSONL reader, and the parsers of expert replies. Each returns a value or raises its typed error; nothing
else escapes, and nothing is slow on huge input."""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, read_jsonl
from nodes.answers import extract_answer
from nodes.parsing import MAX_REPLY_CHARS, parse_plan, parse_voter_reply

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "image": st.sampled_from(["a.png", "../a.png", "/etc/passwd", "data:image/png;base64,xx", "", "http://x/a"])
        | json_values,
        "question": json_values,
        "answer": json_values,
        "choices": json_values | st.lists(st.text(max_size=5), max_size=4),
        "answer_type": st.sampled_from(["integer", "float", "text", "choice", "number"]) | json_values,
    },
)


@given(st.text(max_size=300))
def test_extraction_never_raises(text: str) -> None:
    for answer_type in ("integer", "float", "text", "choice", None):
        result = extract_answer(text, answer_type=answer_type, choices=["x", "y"])  # type: ignore[arg-type]
        assert result is None or isinstance(result, str)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=5))
def test_reader_never_crashes_on_garbage_lines(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "b.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines), encoding="utf-8")
    with contextlib.suppress(BenchmarkError):  # a clear, typed error is the expected outcome for garbage
        read_jsonl(path, skip_bad_lines=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=4))
def test_reader_on_json_records_of_any_shape_keeps_or_reports_every_line(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    path = folder / "b.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    try:
        items, skipped = read_jsonl(path, skip_bad_lines=True)
    except BenchmarkError as e:
        assert "no usable items" in str(e)
        return
    assert len(items) + len(skipped) == len(rows)  # every line is kept or reported, never dropped silently
    for item in items:
        assert Path(item.image).parent == folder.resolve()  # only the image inside the folder got through


@given(st.text(max_size=500))
def test_voter_parsing_never_raises(reply: str) -> None:
    got = parse_voter_reply(reply, ["a", "b"])
    assert got is None or math.isclose(sum(got.values()), 1.0)


@given(st.text(max_size=300))
def test_plan_parsing_never_raises(reply: str) -> None:
    got = parse_plan(reply, ("critic", "self_check"))
    assert got is None or sorted(got) == ["critic", "self_check"]


def test_huge_and_nested_expert_replies_are_cut_and_parsed_quickly() -> None:
    nested = "{" * 100_000 + "}" * 100_000  # would overflow a recursive parser
    flood = "a: 0.5\n" * 2_000_000  # 14 MB of plausible lines
    started = time.monotonic()
    assert parse_voter_reply(nested, ["a", "b"]) is None
    assert parse_voter_reply(flood, ["a", "b"]) == {"a": 1.0, "b": 0.0}  # read from the first MAX_REPLY_CHARS only
    assert parse_plan("critic " * 1_000_000, ("critic", "self_check")) is None
    assert time.monotonic() - started < 2.0
    assert MAX_REPLY_CHARS <= 10_000
