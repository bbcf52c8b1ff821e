"""The ShapesVQA generator follows its spec and is deterministic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from catts_graph.shapes.world import (
    COLORS,
    MAX_HALF,
    MAX_OBJECTS,
    MIN_HALF,
    QUESTION_TEMPLATES,
    make_item,
    write_items,
)
from nodes.answers import extract_answer

ITEMS = [make_item(seed=7, index=i) for i in range(300)]


def test_spec_of_every_item() -> None:
    for item in ITEMS:
        assert item.size == 112 and all(235 <= c <= 255 for c in item.background)
        assert 0 <= len(item.objects) <= MAX_OBJECTS and 0 <= len(item.lines) <= 3
        for obj in item.objects:
            assert MIN_HALF <= obj.half <= MAX_HALF and obj.color in COLORS
            left, top, right, bottom = obj.box
            assert left >= 0 and right < item.size and top >= 0 and bottom < item.size
        areas = [o.area for o in item.objects]
        assert areas == sorted(areas, reverse=True)  # larger drawn first
        for i, a in enumerate(item.objects):
            for b in item.objects[i + 1 :]:
                w = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) + 1
                h = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]) + 1
                if a.color == b.color:
                    assert w <= -1 or h <= -1  # same colours never touch (a gap of at least one pixel)


def test_questions_answers_and_targets() -> None:
    kinds = {item.question_type for item in ITEMS}
    assert kinds == {"count_color", "count_shape", "count_all", "largest"}
    for item in ITEMS:
        if item.question_type == "largest":
            assert item.question == QUESTION_TEMPLATES[3] and item.answer in COLORS
            areas = sorted((o.area for o in item.objects), reverse=True)
            assert len(areas) == 1 or areas[0] >= 1.25 * areas[1]
        else:
            assert item.question.startswith("How many ") and item.question.endswith(" are there?")
            assert item.answer == str(int(item.answer))
        assert extract_answer(item.target, answer_type=item.answer_type) == item.answer  # type: ignore[arg-type]
    count_all = [i for i in ITEMS if i.question_type == "count_all"]
    assert all(i.answer == str(len(i.objects)) for i in count_all)


def test_rendered_colours_match_the_objects() -> None:
    for item in ITEMS[:50]:
        pixels = np.asarray(item.render())  # (112, 112, 3)
        for obj in item.objects[-1:]:  # the last drawn object is on top at its centre (unless a triangle tip)
            if obj.shape != "triangle":
                assert tuple(pixels[obj.cy, obj.cx]) == COLORS[obj.color]


def test_write_items_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(p.name.encode() + p.read_bytes())
        return h.hexdigest()

    a, b, c = (write_items(tmp_path / name, n=12, seed=s).parent for name, s in (("a", 3), ("b", 3), ("c", 4)))
    assert digest(a) == digest(b) != digest(c)
    first = json.loads((a / "items.jsonl").read_text().splitlines()[0])
    assert {"id", "image", "question", "answer", "answer_type"} <= set(first)
    assert (a / first["image"]).is_file()


@pytest.mark.parametrize("size", [56, 224])
def test_other_sizes(size: int) -> None:
    item = make_item(0, 1, size=size)
    assert item.render().size == (size, size)


def test_object_map_names_the_object_each_pixel_shows() -> None:
    for item in ITEMS[:50]:
        owner = item.object_map()  # (S, S)
        pixels = np.array(item.render())  # (S, S, 3)
        assert owner.shape == (item.size, item.size) and owner.max() <= len(item.objects)
        for k, obj in enumerate(item.objects, 1):
            shown = pixels[owner == k]  # (P, 3)
            assert len(shown) > 0 and (shown == COLORS[obj.color]).all()
