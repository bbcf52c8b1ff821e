"""The declared-confidence warm-up's labels from the start model's answers on both views (ours, docs/method.md
section 9.5): each view's greedy response is taught with a label, an estimate of the probability that it is right.

Two label scores, compared on held-out pairs before one is chosen:

- ``cells``: the empirical greedy accuracy of the training views with the same (view, k), k the samples that agree
  with the greedy answer (`trainers.declared.labels`), shrunk toward the overall accuracy by `PSEUDO_ITEMS`;
- ``logistic``: a logistic regression of correctness on the model's signals (`trainers.declared.warmup.SIGNALS`),
  the agreement k / n and the view (`FEATURES`).

``signals`` (the logistic fit on the signals alone, the labels of runs 1-2) is reported beside them. Folds split the
pairs, both views of a pair in the same fold; each fold's rows are scored by a fit on the other folds, and the
pooled held-out scores give each method's AUROC, ECE and Brier score, also as the stated tenth
(`nodes.stated.answer_level`) that the warm-up teaches. The best held-out AUROC chooses.

Example:
    >>> rows = [{"id": str(i), "view": v, "correct": c, "signals": [0.5, 0.5, 0.5], "k": k, "n": 8}
    ...         for i, (v, c, k) in enumerate([("clean", True, 8), ("noised", False, 2)] * 10)]
    >>> fit = fit_cells(rows)
    >>> round(fit.score(rows[0]), 3), round(fit.score(rows[1]), 3)
    (0.857, 0.143)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from catts_graph.evaluation.metrics import auroc, brier, ece
from nodes.stated import answer_level, digit_score
from trainers.declared.warmup import SIGNALS, fit_answer_score

PSEUDO_ITEMS = 4.0  # the cells' shrinkage toward the overall accuracy
FEATURES = (*SIGNALS, "agreement", "noised")
CHOICES = ("cells", "logistic")  # what may be chosen; ``signals`` is the reference


class LabelScore(Protocol):
    def score(self, row: dict[str, Any]) -> float: ...


def features(row: dict[str, Any]) -> list[float]:
    """A view row's `FEATURES`: its signals, the share of samples agreeing with its greedy answer, and the view."""
    return [*row["signals"], row["k"] / max(row["n"], 1), float(row["view"] == "noised")]


@dataclass(frozen=True)
class CellAccuracy:
    """The shrunk greedy accuracy of each (view, k) cell; an unseen cell scores the overall accuracy."""

    cells: dict[str, float]
    mean: float

    def score(self, row: dict[str, Any]) -> float:
        return self.cells.get(f"{row['view']}:{row['k']}", self.mean)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "cells", "pseudo_items": PSEUDO_ITEMS, "mean": self.mean, "cells": self.cells}


@dataclass(frozen=True)
class Logistic:
    """sigmoid(bias + weights . features(row)) over `names` (the full `FEATURES`, or the signals alone)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def score(self, row: dict[str, Any]) -> float:
        values = features(row)[: len(self.names)]
        z = self.bias + sum(w * v for w, v in zip(self.weights, values, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"method": "logistic", "features": self.names, "weights": self.weights, "bias": self.bias}


def fit_cells(rows: Sequence[dict[str, Any]]) -> CellAccuracy:
    mean = sum(bool(r["correct"]) for r in rows) / max(len(rows), 1)
    counts: dict[str, list[int]] = {}
    for r in rows:
        cell = counts.setdefault(f"{r['view']}:{r['k']}", [0, 0])
        cell[0] += bool(r["correct"])
        cell[1] += 1
    shrunk = {c: (right + PSEUDO_ITEMS * mean) / (n + PSEUDO_ITEMS) for c, (right, n) in counts.items()}
    return CellAccuracy(shrunk, mean)


def fit_logistic(rows: Sequence[dict[str, Any]], names: tuple[str, ...] = FEATURES) -> Logistic:
    fit = fit_answer_score([features(r)[: len(names)] for r in rows], [bool(r["correct"]) for r in rows])
    return Logistic(names, fit.weights, fit.bias)


METHODS: dict[str, Callable[[Sequence[dict[str, Any]]], LabelScore]] = {
    "cells": fit_cells,
    "logistic": fit_logistic,
    "signals": lambda rows: fit_logistic(rows, SIGNALS),
}


def stated(score: float) -> float:
    """What the warm-up teaches for a score: the middle of its tenth."""
    return digit_score(int(answer_level(score)))


def folds_of(rows: Sequence[dict[str, Any]], folds: int) -> list[int]:
    """Each row's fold: its pair's position among the pairs, modulo `folds` (both views of a pair together)."""
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(r["id"], len(order))
    return [order[r["id"]] % folds for r in rows]


def held_out_scores(rows: Sequence[dict[str, Any]], method: str, folds: int = 5) -> list[float]:
    """Each row's score by `method` fitted on the other folds' rows."""
    fold = folds_of(rows, folds)
    out = [math.nan] * len(rows)
    for f in range(folds):
        train = [r for r, g in zip(rows, fold, strict=True) if g != f]
        fit = METHODS[method](train)
        for index, g in enumerate(fold):
            if g == f:
                out[index] = fit.score(rows[index])
    return out


def measures(scores: Sequence[float], correct: Sequence[float]) -> dict[str, float]:
    """AUROC, ECE and Brier score of `scores`, and of the tenths they would be stated as."""
    said = [stated(s) for s in scores]
    return {
        "auroc": auroc(scores, correct),
        "ece": ece(scores, correct),
        "brier": brier(scores, correct),
        "auroc_stated": auroc(said, correct),
        "ece_stated": ece(said, correct),
    }


def compare_labels(rows: Sequence[dict[str, Any]], folds: int = 5) -> dict[str, dict[str, Any]]:
    """Per method, its pooled held-out measures, over all rows and per view."""
    correct = [float(r["correct"]) for r in rows]
    out: dict[str, dict[str, Any]] = {}
    for method in METHODS:
        scores = held_out_scores(rows, method, folds)
        report: dict[str, Any] = measures(scores, correct)
        for view in ("clean", "noised"):
            keep = [i for i, r in enumerate(rows) if r["view"] == view]
            report[view] = measures([scores[i] for i in keep], [correct[i] for i in keep])
        out[method] = report
    return out


def choose(comparison: dict[str, dict[str, Any]]) -> str:
    """The label score with the best held-out AUROC among `CHOICES`."""
    return max(CHOICES, key=lambda method: comparison[method]["auroc"])


def label_views(rows: Sequence[dict[str, Any]], method: str) -> tuple[list[float], dict[str, Any]]:
    """Every row's label by `method` fitted on all rows, and the fit."""
    fit = METHODS[method](rows)
    return [fit.score(r) for r in rows], fit.to_dict()  # type: ignore[attr-defined]
