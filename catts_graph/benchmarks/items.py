"""The benchmark contract every loader produces: a `Benchmark` of `BenchmarkItem`s, and the error a bad file or name
raises.

An item is one image question: `image` is a file path or a data URL, `answer` is normalised for its `answer_type`
(``integer|float|text|choice``; with `choices` the answer is an option letter). Optional grounding truth:
`boxes`, the evidence for the question as ``(x1, y1, x2, y2)`` in the original image's pixels, and `caption`, a
short description of the scene (SATORI-R1's annotations; `nodes.grounding`). Optional step truth: `steps`, the
reference rationale's steps, against which each step of a response is judged (`catts_graph.evaluation.steps`).
Loader-specific fields (a ShapesVQA
item's objects, a public benchmark's category or precision, a JSONL line's unknown fields) are kept in `meta`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nodes.answers import AnswerType
from nodes.errors import InvalidInputError
from nodes.grounding import Box
from nodes.state import CATTSInput, graph_input


@dataclass(frozen=True)
class BenchmarkItem:
    """One question: `image` is a file path or a data URL; `answer` is normalised for its `answer_type`."""

    id: str
    question: str
    image: str
    answer: str
    answer_type: AnswerType | None = None
    choices: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    boxes: tuple[Box, ...] | None = None
    caption: str | None = None
    steps: tuple[str, ...] | None = None

    def graph_input(self) -> CATTSInput:
        """The graph's input for this item (its image, question, options and answer type)."""
        return graph_input(self.question, [self.image], choices=self.choices or None, answer_type=self.answer_type)


class BenchmarkError(InvalidInputError):
    """A benchmark file or name that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark: its name, items, and the problems of lines skipped on request (never silently)."""

    name: str
    items: list[BenchmarkItem]
    skipped: list[str] = field(default_factory=list)


def read_boxes(value: Any) -> tuple[Box, ...]:
    """Evidence boxes from ``[[x1, y1, x2, y2], ...]`` (pixels, x1 <= x2, y1 <= y2; ``[]`` for none); raises
    `InvalidInputError` saying what is wrong."""
    if not isinstance(value, list | tuple):
        raise InvalidInputError("`boxes` must be a list [[x1, y1, x2, y2], ...] in pixels of the image.")
    boxes = []
    for box in value:
        numbers = box if isinstance(box, list | tuple) else ()
        ok = len(numbers) == 4 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)
        if not ok or not all(math.isfinite(v) for v in numbers):
            raise InvalidInputError(f"each box must be four numbers [x1, y1, x2, y2], got {box!r}.")
        x1, y1, x2, y2 = (float(v) for v in numbers)
        if x1 > x2 or y1 > y2:
            raise InvalidInputError(f"box {box!r} has x1 > x2 or y1 > y2; write [left, top, right, bottom].")
        boxes.append((x1, y1, x2, y2))
    return tuple(boxes)
