"""Benchmark loading: the JSONL contract, its error messages, and the ShapesVQA benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, load_benchmark, read_jsonl


def write(tmp_path: Path, lines: list[object]) -> Path:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


GOOD = {"id": "1", "image": "a.png", "question": "How many?", "answer": "2.0", "answer_type": "integer"}


def test_reads_the_contract(tmp_path: Path) -> None:
    choice = {
        "id": "2",
        "image": "a.png",
        "question": "Which?",
        "answer": "dog",
        "choices": ["cat", "dog"],
        "src": "x",
    }
    items, skipped = read_jsonl(write(tmp_path, [GOOD, choice]))
    assert skipped == []
    assert items[0].answer == "2" and Path(items[0].image).is_file()
    assert items[1].answer == "B" and items[1].answer_type == "choice" and items[1].meta == {"src": "x"}


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", "bench.jsonl:2: not valid JSON"),
        ('["a list"]', "bench.jsonl:2: each line must be a JSON object"),
        ({"id": "9", "image": "a.png"}, "missing field\\(s\\) question, answer"),
        ({**GOOD, "id": "9", "image": "../../etc/passwd"}, "leaves the benchmark's folder"),
        ({**GOOD, "id": "9", "image": "https://x.org/a.png"}, "remote image URLs"),
        ({**GOOD, "id": "9", "answer_type": "number"}, "answer_type must be one of"),
        ({**GOOD, "id": "9", "answer": "many"}, "cannot be read as integer"),
        ({**GOOD, "id": "9", "choices": "a,b"}, "list of option texts"),
        ({**GOOD, "id": "9", "choices": ["red", " Red "], "answer": "A"}, "two choices are the same"),
        ({**GOOD, "id": "9", "choices": ["red", " "], "answer": "A"}, "a choice is empty"),
        ({**GOOD, "id": "9", "choices": [], "answer": "A"}, "between 2 and 26 choices"),
        (GOOD, "duplicate id '1'"),
        ({**GOOD, "id": "9", "question": " \t "}, "bench.jsonl:2: the question is empty"),
        ({**GOOD, "id": "9", "question": ["How many?"]}, "bench.jsonl:2: `question` must be text"),
        ({**GOOD, "id": "9", "question": "x" * 8_001}, "bench.jsonl:2: the question has 8,001 characters"),
    ],
)
def test_bad_lines_are_reported_with_their_line_number(tmp_path: Path, line: object, match: str) -> None:
    path = write(tmp_path, [GOOD, line])
    with pytest.raises(BenchmarkError, match=match):
        read_jsonl(path)
    items, skipped = read_jsonl(path, skip_bad_lines=True)  # the rest is still evaluated, when asked
    assert [i.id for i in items] == ["1"] and len(skipped) == 1 and ":2:" in skipped[0]


def test_names_and_limits(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD])
    assert load_benchmark(f"jsonl:{path}").items[0].id == "1"
    shapes = load_benchmark("shapes", limit=4)
    assert len(shapes.items) == 4 and shapes.items[0].image.startswith("data:image/png;base64,")
    assert load_benchmark("shapes:5", limit=1).items[0].id == "shapes-5-000000"
    for bad, match in (
        ("mmmu2", "unknown benchmark"),
        ("shapes:x", "integer seed"),
        (f"jsonl:{tmp_path}/no.jsonl", "does not exist"),
    ):
        with pytest.raises(BenchmarkError, match=match):
            load_benchmark(bad)
    with pytest.raises(BenchmarkError, match="at least 1"):
        load_benchmark("shapes", limit=0)


def test_a_line_that_is_not_utf8_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD])
    latin1 = json.dumps({**GOOD, "id": "2", "question": "Combien de cercles à gauche?"}, ensure_ascii=False)
    third = json.dumps({**GOOD, "id": "3", "question": "Wie viele Kreise gibt es in Größe 2?"}, ensure_ascii=False)
    path.write_bytes(path.read_bytes() + latin1.encode("latin-1") + b"\n" + third.encode() + b"\n")
    with pytest.raises(BenchmarkError, match="bench.jsonl:2: not UTF-8 text .*byte 0xe0"):
        read_jsonl(path)
    items, skipped = read_jsonl(path, skip_bad_lines=True)
    assert [i.id for i in items] == ["1", "3"] and items[1].question.endswith("Größe 2?")
    assert len(skipped) == 1 and ":2:" in skipped[0]


def test_a_byte_order_mark_and_unicode_line_separators_inside_strings_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, [])
    first = json.dumps({**GOOD, "question": "How many?\u2028Count them."}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + first.encode() + b"\r\n")
    [item], _ = read_jsonl(path)
    assert item.question == "How many?\u2028Count them."
