"""ShapesVQA: a synthetic visual-question world where small models are right often but not always.

The spec is fixed (other tools generate items from it):

- Image: `size` x `size` RGB (112 by default), near-white background (each channel 235-255), 0-3 thin grey
  distractor lines, 0-6 objects. Shapes `circle`, `square`, `triangle` (upward, isosceles, inscribed in the
  object's box); colours red (220,40,40), green (40,160,60), blue (40,80,220), yellow (225,195,30); half-size
  6-17 px; objects of different colours may overlap partially (at most 30% of the smaller box), objects of the same
  colour never touch; larger objects are drawn first.
- Questions (exact strings): ``How many {color} shapes are there?``, ``How many {shape}s are there?``,
  ``How many shapes are there?`` (integers) and ``What colour is the largest shape?`` (a colour word; asked only
  when the largest shape has at least 1.25x the area of the second largest). Mix 0.3 / 0.3 / 0.2 / 0.2; a count
  question asks about a colour or shape present in the image with probability 0.7.
- Answers: a short rationale (the matching shapes, left to right, or ``none.``), then ``\\boxed{answer}``.

Items are deterministic per (seed, index): the same seed gives byte-identical files.

Example:
    >>> item = make_item(seed=0, index=3)
    >>> item.target.endswith("\\\\boxed{" + item.answer + "}")
    True
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from nodes.answers import AnswerType

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (225, 195, 30),
}
SHAPES = ("circle", "square", "triangle")
QUESTION_TEMPLATES = (
    "How many {color} shapes are there?",
    "How many {shape}s are there?",
    "How many shapes are there?",
    "What colour is the largest shape?",
)
QUESTION_MIX = (0.3, 0.3, 0.2, 0.2)
MIN_HALF, MAX_HALF = 6, 17
MAX_OBJECTS = 6
MAX_OVERLAP = 0.30  # of the smaller box, for objects of different colours
LARGEST_RATIO = 1.25
PRESENT_PROBABILITY = 0.7


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    color: str
    cx: int
    cy: int
    half: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels, inclusive of the right/bottom edge."""
        return (self.cx - self.half, self.cy - self.half, self.cx + self.half, self.cy + self.half)

    @property
    def area(self) -> float:
        side = 2 * self.half
        return {"circle": math.pi * self.half**2, "square": side * side, "triangle": side * side / 2}[self.shape]

    def describe(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class ShapesItem:
    """One question about one image (the image is drawn on demand by `render`)."""

    id: str
    question: str
    answer: str
    answer_type: AnswerType
    question_type: str
    rationale: str
    objects: tuple[ShapeObject, ...]
    lines: tuple[tuple[int, int, int, int, int], ...]  # (x0, y0, x1, y1, grey)
    background: tuple[int, int, int]
    size: int

    @property
    def target(self) -> str:
        """The reference response: rationale, then the boxed answer."""
        return f"{self.rationale} \\boxed{{{self.answer}}}"

    @property
    def caption(self) -> str:
        """A short description of the scene: every shape, left to right (``no shapes.`` for an empty image)."""
        return _rationale(list(self.objects)).replace("none.", "no shapes.")

    @property
    def reference_steps(self) -> list[str]:
        """The steps of the reference rationale: each shape it lists (``none`` when it lists none)."""
        return [part.strip() for part in self.rationale.rstrip(".").split(",")]

    @property
    def evidence_boxes(self) -> list[tuple[int, int, int, int]]:
        """The boxes of the evidence, left to right: the shapes a count counts, the largest shape (may be empty)."""
        return [o.box for o in sorted(relevant_objects(self.question, self.objects), key=lambda o: (o.cx, o.cy))]

    def render(self) -> Image.Image:
        img = Image.new("RGB", (self.size, self.size), self.background)
        draw = ImageDraw.Draw(img)
        for x0, y0, x1, y1, grey in self.lines:
            draw.line((x0, y0, x1, y1), fill=(grey, grey, grey), width=1)
        for obj in self.objects:  # already sorted: larger first
            _draw_object(draw, obj, COLORS[obj.color])
        return img

    def object_map(self) -> npt.NDArray[np.uint8]:
        """A (size, size) map of which object each pixel shows: 0 background (and lines), k for `objects[k - 1]`."""
        img = Image.new("L", (self.size, self.size), 0)
        draw = ImageDraw.Draw(img)
        for k, obj in enumerate(self.objects, 1):  # the drawing order of `render`, so overlaps agree
            _draw_object(draw, obj, k)
        return np.array(img)  # (H, W)


def _draw_object(draw: ImageDraw.ImageDraw, obj: ShapeObject, fill: int | tuple[int, int, int]) -> None:
    left, top, right, bottom = obj.box
    if obj.shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((left, top, right, bottom), fill=fill)
    else:
        draw.polygon([(left, bottom), (right, bottom), (obj.cx, top)], fill=fill)


def _overlap(a: ShapeObject, b: ShapeObject, margin: int = 0) -> float:
    """Intersection area of the two boxes (grown by `margin`) over the smaller box's area."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    w = min(ax1, bx1) - max(ax0, bx0) + 1 + 2 * margin
    h = min(ay1, by1) - max(ay0, by0) + 1 + 2 * margin
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((2 * a.half + 1) ** 2, (2 * b.half + 1) ** 2)
    return w * h / smaller


def _place_objects(rng: random.Random, size: int, count: int) -> list[ShapeObject]:
    placed: list[ShapeObject] = []
    for _ in range(count):
        for _attempt in range(60):
            half = rng.randint(MIN_HALF, MAX_HALF)
            obj = ShapeObject(
                shape=rng.choice(SHAPES),
                color=rng.choice(list(COLORS)),
                cx=rng.randint(half + 1, size - half - 2),
                cy=rng.randint(half + 1, size - half - 2),
                half=half,
            )
            ok = all(
                _overlap(obj, other, margin=1) == 0
                if other.color == obj.color
                else _overlap(obj, other) <= MAX_OVERLAP
                for other in placed
            )
            if ok:
                placed.append(obj)
                break
    return sorted(placed, key=lambda o: (-o.area, o.cx, o.cy))  # larger drawn first


def _rationale(matching: list[ShapeObject]) -> str:
    if not matching:
        return "none."
    return ", ".join(o.describe() for o in sorted(matching, key=lambda o: (o.cx, o.cy))) + "."


def _question(rng: random.Random, objects: list[ShapeObject]) -> tuple[str, str, str, AnswerType, str] | None:
    """(question_type, question, answer, answer_type, rationale), or None if this draw cannot be asked."""
    kind = rng.choices(("count_color", "count_shape", "count_all", "largest"), weights=QUESTION_MIX)[0]
    present = rng.random() < PRESENT_PROBABILITY and bool(objects)
    if kind == "count_color":
        color = rng.choice(objects).color if present else rng.choice(list(COLORS))
        matching = [o for o in objects if o.color == color]
        question = QUESTION_TEMPLATES[0].format(color=color)
    elif kind == "count_shape":
        shape = rng.choice(objects).shape if present else rng.choice(SHAPES)
        matching = [o for o in objects if o.shape == shape]
        question = QUESTION_TEMPLATES[1].format(shape=shape)
    elif kind == "count_all":
        matching = list(objects)
        question = QUESTION_TEMPLATES[2]
    else:
        if not objects:
            return None
        by_area = sorted(objects, key=lambda o: -o.area)
        if len(by_area) > 1 and by_area[0].area < LARGEST_RATIO * by_area[1].area:
            return None
        largest = by_area[0]
        return kind, QUESTION_TEMPLATES[3], largest.color, "text", f"{largest.describe()}."
    return kind, question, str(len(matching)), "integer", _rationale(matching)


def make_item(seed: int, index: int, size: int = 112) -> ShapesItem:
    """Item `index` of the world with `seed` (independent of every other index)."""
    rng = random.Random(seed * 1_000_003 + index)
    while True:
        background = (rng.randint(235, 255), rng.randint(235, 255), rng.randint(235, 255))
        lines = []
        for _ in range(rng.randint(0, 3)):
            grey = rng.randint(140, 200)
            lines.append((rng.randrange(size), rng.randrange(size), rng.randrange(size), rng.randrange(size), grey))
        objects = _place_objects(rng, size, rng.randint(0, MAX_OBJECTS))
        asked = _question(rng, objects)
        if asked is not None:
            break
    kind, question, answer, answer_type, rationale = asked
    return ShapesItem(
        id=f"shapes-{seed}-{index:06d}",
        question=question,
        answer=answer,
        answer_type=answer_type,
        question_type=kind,
        rationale=rationale,
        objects=tuple(objects),
        lines=tuple(lines),
        background=background,
        size=size,
    )


def write_items(out_dir: str | Path, n: int, seed: int, size: int = 112) -> Path:
    """Write `n` items as `DIR/items.jsonl` (the benchmark contract) plus `DIR/images/*.png`."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / "items.jsonl"
    with path.open("w") as f:
        for index in range(n):
            item = make_item(seed, index, size)
            image_rel = f"images/{item.id}.png"
            item.render().save(out / image_rel, format="PNG")
            record = {
                "id": item.id,
                "image": image_rel,
                "question": item.question,
                "answer": item.answer,
                "answer_type": item.answer_type,
                "question_type": item.question_type,
                "caption": item.caption,
                "boxes": [list(box) for box in item.evidence_boxes],
                "steps": item.reference_steps,
                "objects": [asdict(o) | {"box": list(o.box)} for o in item.objects],
            }
            f.write(json.dumps(record) + "\n")
    return path


def relevant_objects(question: str, objects: Sequence[ShapeObject]) -> list[ShapeObject]:
    """The objects a question is about (the oracle evidence region): matching colour or shape, all, or the largest."""
    for color in COLORS:
        if question == QUESTION_TEMPLATES[0].format(color=color):
            return [o for o in objects if o.color == color]
    for shape in SHAPES:
        if question == QUESTION_TEMPLATES[1].format(shape=shape):
            return [o for o in objects if o.shape == shape]
    if question == QUESTION_TEMPLATES[3] and objects:
        return [max(objects, key=lambda o: o.area)]
    return list(objects)


def evidence_mask(question: str, objects: Sequence[ShapeObject], size: int, margin: int = 2) -> npt.NDArray[np.bool_]:
    """A (size, size) mask over the boxes of the objects the question is about (every object if none match)."""
    chosen = relevant_objects(question, objects) or list(objects)
    mask = np.zeros((size, size), dtype=bool)  # (H, W)
    for obj in chosen:
        left, top, right, bottom = obj.box
        mask[max(0, top - margin) : bottom + margin + 1, max(0, left - margin) : right + margin + 1] = True
    return mask
