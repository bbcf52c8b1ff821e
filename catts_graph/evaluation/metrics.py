"""Accuracy, calibration and scaling metrics (pure NumPy).

Confidences here are probabilities in [0, 1] (e.g. a vote share, or exp(mean log-prob)); `correct` is 0/1.

Example:
    >>> round(ece([0.9, 0.9, 0.2, 0.2], [1, 0, 0, 0], n_bins=2), 3)
    0.3
    >>> auroc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

Binning = Literal["equal_width", "equal_mass"]


def _arrays(
    confidence: Sequence[float], correct: Sequence[float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    c = np.asarray(confidence, dtype=np.float64)  # (N,)
    y = np.asarray(correct, dtype=np.float64)  # (N,)
    if c.shape != y.shape:
        raise ValueError(f"{c.size} confidences but {y.size} correctness labels")
    keep = np.isfinite(c)  # undefined confidences are left out
    return np.clip(c[keep], 0.0, 1.0), y[keep]


def bin_edges(confidence: npt.NDArray[np.float64], n_bins: int, binning: Binning) -> npt.NDArray[np.float64]:
    """(n_bins + 1,) edges: equal-width on [0, 1], or quantiles of `confidence` (equal-mass)."""
    if binning == "equal_width":
        return np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.asarray(np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1)), dtype=np.float64)  # (n_bins + 1,)
    edges[0], edges[-1] = 0.0, 1.0
    return edges


def reliability(
    confidence: Sequence[float], correct: Sequence[float], n_bins: int = 10, binning: Binning = "equal_width"
) -> list[dict[str, float]]:
    """Per-bin mean confidence, accuracy and count: the points of a reliability diagram (empty bins left out)."""
    c, y = _arrays(confidence, correct)
    if c.size == 0:
        return []
    edges = bin_edges(c, n_bins, binning)
    index = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, n_bins - 1)  # (N,) bin of each item
    rows = []
    for b in range(n_bins):
        members = index == b  # (N,)
        if members.any():
            rows.append(
                {
                    "lower": float(edges[b]),
                    "upper": float(edges[b + 1]),
                    "confidence": float(c[members].mean()),
                    "accuracy": float(y[members].mean()),
                    "count": float(members.sum()),
                }
            )
    return rows


def ece(
    confidence: Sequence[float], correct: Sequence[float], n_bins: int = 10, binning: Binning = "equal_width"
) -> float:
    """Expected calibration error: sum_b (n_b / N) |acc_b - conf_b| (NaN with no items)."""
    rows = reliability(confidence, correct, n_bins, binning)
    total = sum(r["count"] for r in rows)
    if not total:
        return math.nan
    return sum(r["count"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows)


def min_max(values: Sequence[float], *, constant: float) -> list[float]:
    """`values` rescaled to [0, 1] by their minimum and maximum; all `constant` when those (nearly) coincide."""
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return [constant] * len(values)
    return [(v - low) / (high - low) for v in values]


def brier(confidence: Sequence[float], correct: Sequence[float]) -> float:
    """Mean squared error of the confidence against correctness (NaN with no items)."""
    c, y = _arrays(confidence, correct)
    return float(np.mean((c - y) ** 2)) if c.size else math.nan


def auroc(scores: Sequence[float], correct: Sequence[float]) -> float:
    """Area under the ROC curve of `scores` separating correct from wrong items (ties count half).

    NaN when all items are correct or all wrong. Scores need not be probabilities.
    """
    s = np.asarray(scores, dtype=np.float64)  # (N,)
    y = np.asarray(correct, dtype=np.float64)  # (N,)
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")  # (N,)
    ranks = np.empty(s.size)
    ranks[order] = np.arange(1, s.size + 1)  # (N,) 1-based ranks
    for value in np.unique(s):  # average ranks of ties
        tied = s == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scaling_slope(budgets: Sequence[float], accuracy: Sequence[float]) -> float:
    """Least-squares slope of accuracy against log2 of the budget: N (the paper's beta, in accuracy points if given
    in %), or the completion tokens spent."""
    b = np.asarray(budgets, dtype=np.float64)  # (K,)
    y = np.asarray(accuracy, dtype=np.float64)  # (K,)
    if b.size < 2 or not np.all(b > 0):
        return math.nan
    x = np.log2(b)  # (K,)
    if np.ptp(x) == 0:
        return math.nan
    slope, _intercept = np.polyfit(x, y, 1)
    return float(slope)


def paired_bootstrap_ci(
    correct_a: Sequence[float], correct_b: Sequence[float], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Accuracy difference (a - b) over the same items, with a paired bootstrap confidence interval."""
    a = np.asarray(correct_a, dtype=np.float64)  # (N,)
    b = np.asarray(correct_b, dtype=np.float64)  # (N,)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired bootstrap needs two equally long, non-empty result lists")
    diff = a - b  # (N,)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, a.size, size=(n_boot, a.size))  # (B, N) resampled item indices
    means = diff[samples].mean(axis=1)  # (B,)
    tail = (1 - level) / 2
    return float(diff.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_metric_ci(
    metric: Callable[[Sequence[float], Sequence[float]], float],
    a: tuple[Sequence[float], Sequence[float]],
    b: tuple[Sequence[float], Sequence[float]],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``metric(a) - metric(b)`` for two (confidence, correct) lists over the same items, with a paired bootstrap
    confidence interval (items resampled jointly), e.g. ``paired_metric_ci(ece, (conf_a, ok_a), (conf_b, ok_b))``."""
    arrays = [np.asarray(x, dtype=np.float64) for x in (*a, *b)]  # 4 x (N,)
    if len({x.shape for x in arrays}) != 1 or arrays[0].size == 0:
        raise ValueError("a paired metric needs four equally long, non-empty lists")
    conf_a, ok_a, conf_b, ok_b = arrays
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, conf_a.size, size=(n_boot, conf_a.size))  # (B, N) resampled item indices
    diffs = np.array(
        [metric(list(conf_a[i]), list(ok_a[i])) - metric(list(conf_b[i]), list(ok_b[i])) for i in samples]
    )  # (B,)
    diffs = diffs[np.isfinite(diffs)]  # a resample with one class only has no AUROC
    tail = (1 - level) / 2
    point = metric(list(conf_a), list(ok_a)) - metric(list(conf_b), list(ok_b))
    return float(point), float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))
