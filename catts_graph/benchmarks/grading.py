"""Grading a prediction against a benchmark item by rule: what `catts eval`, `catts probe`, RH-AUC and CDRL's
accuracy reward all count as correct.

Example:
    >>> item = BenchmarkItem("a", "What is the ratio?", "x.png", "0.5", "float", meta={"precision": 1})
    >>> matches("0.52", item), matches("0.6", item), matches(None, item)
    (True, False, False)
"""

from __future__ import annotations

import math

from catts_graph.benchmarks.items import BenchmarkItem


def matches(prediction: str | None, item: BenchmarkItem) -> bool:
    """Rule-based answer matching: normalised equality; floats within the item's `precision` (decimal places,
    MathVista's rule) or a relative 1e-6."""
    if prediction is None:
        return False
    if prediction == item.answer:
        return True
    if item.answer_type != "float":
        return False
    try:
        got, want = float(prediction), float(item.answer)
    except ValueError:
        return False
    precision = item.meta.get("precision")
    if isinstance(precision, int | float):
        return round(got, int(precision)) == round(want, int(precision))
    return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
