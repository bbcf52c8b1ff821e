"""Step-level evaluation: which steps of a response are right, and how well each step signal says so.

A reasoning step is right when every clause of it (its text cut at ``,``, ``;``, ``:``) is a step of the item's
reference rationale (`BenchmarkItem.steps`), each reference step used once, compared case- and punctuation-blind;
the final-answer step is right when the response's answer is. Items without reference steps judge only the answer
step. `step_metrics` reports, per source of responses, the step ECE and step AUROC of each signal and of the
combined confidence (`nodes.steps`).

Example:
    >>> step_truth(["red circle, blue square.", "2"], [False, True], ("blue square", "red circle"), True)
    [True, True]
    >>> step_truth(["red circle, red square.", "2"], [False, True], ("red circle",), False)
    [False, False]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from catts_graph.evaluation.metrics import auroc, ece
from nodes.state import SampleRecord
from nodes.steps import SIGNALS

COLUMNS = (*SIGNALS, "confidence", "stated")  # the scored columns of a step row, after `answer?`
_CLAUSES = re.compile(r"[,;:]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _normal(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


def step_truth(
    texts: Sequence[str], is_answer: Sequence[bool], reference: Sequence[str] | None, answer_correct: bool
) -> list[bool | None]:
    """Per step: right, wrong, or None (a reasoning step of an item without reference steps)."""
    left = Counter(_normal(t) for t in reference or ())
    out: list[bool | None] = []
    for text, answer in zip(texts, is_answer, strict=True):
        if answer:
            out.append(answer_correct)
            continue
        if reference is None:
            out.append(None)
            continue
        clauses = [c for c in (_normal(part) for part in _CLAUSES.split(text)) if c]
        need = Counter(clauses)
        right = bool(clauses) and all(left[c] >= k for c, k in need.items())
        if right:
            left -= need
        out.append(right)
    return out


def step_rows(record: SampleRecord, reference: Sequence[str] | None, answer_correct: bool) -> list[list[Any]]:
    """A response's steps for the results file: ``[answer?, likelihood, certainty, visual, chain, confidence,
    stated, correct]`` (stated: the confidence the model wrote after the step, NaN without a statement)."""
    steps = record["steps"]
    truth = step_truth([s["text"] for s in steps], [s["answer"] for s in steps], reference, answer_correct)
    return [
        [s["answer"], *(_round(s[name]) for name in COLUMNS), right]  # type: ignore[literal-required]
        for s, right in zip(steps, truth, strict=True)
    ]


def _round(value: float) -> float:
    return round(value, 5) if math.isfinite(value) else math.nan


def step_metrics(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method whose lines carry `steps` (greedy: its response; majority: the sampled ones), over every step
    whose truth is known: the number of steps, the share that is wrong, and ECE and AUROC of each signal, of the
    combination and of the stated confidence (NaN where absent)."""
    by_method: dict[str, list[list[Any]]] = {}
    for line in lines:
        for row in line.get("steps") or []:
            if row[-1] is not None:
                by_method.setdefault(line["method"], []).append(row)
    out = []
    for method, rows in by_method.items():
        correct = [float(row[-1]) for row in rows]
        entry: dict[str, Any] = {"method": method, "steps": len(rows), "wrong": 1 - sum(correct) / len(rows)}
        for index, name in enumerate(COLUMNS, start=1):
            values = [float(row[index]) for row in rows]
            entry[name] = {"ece": ece(values, correct), "auroc": auroc(values, correct)}
        out.append(entry)
    return out
