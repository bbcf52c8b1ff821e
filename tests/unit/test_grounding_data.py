"""Grounding truth in the benchmark contract: ShapesVQA writes it, JSONL reads and checks it, VQA-Verify (SATORI's
data, ms-swift schema) loads from a local copy, and CDRL pairs carry it to the grounding trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, load_benchmark
from catts_graph.benchmarks.jsonl import read_jsonl
from catts_graph.shapes.world import make_item, write_items


def test_shapes_items_carry_their_evidence_boxes_and_caption(tmp_path: Path) -> None:
    item = make_item(2, 5)  # "How many triangles are there?" with two triangles among four shapes
    assert item.question == "How many triangles are there?" and item.answer == "2"
    assert item.caption == "blue triangle, yellow square, blue circle, green triangle."
    assert item.evidence_boxes == [(7, 15, 21, 29), (87, 19, 107, 39)]
    largest = next(make_item(2, i) for i in range(50) if make_item(2, i).question_type == "largest")
    assert len(largest.evidence_boxes) == 1
    lines = [json.loads(line) for line in write_items(tmp_path, 6, seed=2).read_text().splitlines()]
    assert lines[5]["boxes"] == [[7, 15, 21, 29], [87, 19, 107, 39]] and lines[5]["caption"] == item.caption
    items, _ = read_jsonl(tmp_path / "items.jsonl")
    assert items[5].boxes == ((7.0, 15.0, 21.0, 29.0), (87.0, 19.0, 107.0, 39.0)) and items[5].caption == item.caption
    assert load_benchmark("shapes", limit=6).items[5].boxes == items[5].boxes


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ("[[1, 2, 3, 4]]", "must be a list"),
        ([[1, 2, 3]], "four numbers"),
        ([[1, 2, 3, "4"]], "four numbers"),
        ([[5, 2, 3, 4]], "x1 > x2"),
    ],
)
def test_jsonl_refuses_bad_boxes_with_the_line(tmp_path: Path, boxes: object, message: str) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    record = {"id": "a", "image": "a.png", "question": "q?", "answer": "1", "boxes": boxes}
    (tmp_path / "b.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(BenchmarkError, match=message) as raised:
        read_jsonl(tmp_path / "b.jsonl")
    assert "b.jsonl:1" in str(raised.value)


def vqa_verify_copy(root: Path) -> Path:
    """Three records in VQA-Verify's published (ms-swift) schema, one unusable."""
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (640, 480), "white").save(root / "images" / "0.jpg")
    Image.new("RGB", (300, 200), "white").save(root / "images" / "1.png")
    records = [
        {
            "messages": [
                {"role": "user", "content": "<image>What is on the table?"},
                {"role": "assistant", "content": "a cup"},
            ],
            "images": ["images/0.jpg"],
            "image_caption": "A kitchen table with a cup.",
            "bboxs": [[100, 120, 180, 200]],
            "width": 640,
            "height": 480,
            "possible_answers": ["cup", "a cup"],
        },
        {
            "messages": [{"role": "user", "content": "How many birds are there? <image>"}],
            "images": [{"bytes": None, "path": "images/1.png"}],
            "image_caption": "Two birds on a wire.",
            "bboxs": [[10, 20, 50, 60], [60, 20, 100, 60]],
            "width": 300,
            "height": 200,
            "possible_answers": ["2"],
        },
        {"messages": [], "images": ["images/0.jpg"], "image_caption": "", "bboxs": [], "possible_answers": ["x"]},
    ]
    path = root / "vqa_verify.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_vqa_verify_loads_with_boxes_and_captions(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    bench = load_benchmark(f"vqa-verify:{vqa_verify_copy(tmp_path)}")
    assert [i.question for i in bench.items] == ["What is on the table?", "How many birds are there?"]
    first, second = bench.items
    assert first.answer == "cup" and first.meta["possible_answers"] == ["cup", "a cup"]
    assert first.boxes == ((100.0, 120.0, 180.0, 200.0),) and first.caption == "A kitchen table with a cup."
    assert len(second.boxes or ()) == 2 and second.image.startswith("data:image/")
    assert len(bench.skipped) == 1


def test_pairs_carry_the_grounding_truth(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from trainers.cdrl.data import PairNoise, build_pairs, pairs_dataset

    items = load_benchmark("shapes:100", limit=3).items
    build_pairs(items, tmp_path / "pairs", PairNoise(level=1.0, region="objects"))
    rows = pairs_dataset(tmp_path / "pairs", grounded=True)
    assert rows[0]["width"] == 112 and rows[0]["caption"] == items[0].caption
    assert [tuple(b) for b in rows[0]["boxes"]] == list(items[0].boxes or ())
    assert "<bbox>" in rows[0]["prompt"][0]["content"][1]["text"]
    plain = pairs_dataset(tmp_path / "pairs")
    assert "boxes" not in plain.column_names and "\\boxed" in plain[0]["prompt"][0]["content"][1]["text"]
