"""What a new user tripped on, each pinned by a test: a box outside its image is refused with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, read_jsonl

DOWN = "http://127.0.0.1:9"  # nothing listens there


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
