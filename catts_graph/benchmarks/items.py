"""The benchmark contract every loader produces: a `Benchmark` of `BenchmarkItem`s, and the error a bad file or name
raises.

An item is one image question: `image` is a file path or a data URL, `answer` is normalised for its `answer_type`
(``integer|float|text|choice``; with `choices` the answer is an option letter). Loader-specific fields (a ShapesVQA
item's objects, a public benchmark's category or precision, a JSONL line's unknown fields) are kept in `meta`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodes.answers import AnswerType
from nodes.errors import InvalidInputError
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
