"""Fit how the step signals combine (`nodes.steps.combine` with a bias) on the steps a `catts eval` run judged.

A logistic regression of step correctness on the signals the run measured (`nodes.steps.SIGNALS`;
a signal the run never measured is left out, a missing value counts as `MISSING_SIGNAL` as at run time), by Newton
steps with a small L2 penalty. The fit and its scores come from the same steps: check them on held-out items.

Example:
    >>> nan = float("nan")
    >>> rows = [[False, 0.9, 0.8, nan, 0.9, 0.85, nan, True], [False, 0.3, 0.6, nan, 0.3, 0.45, nan, False]] * 5
    >>> fit = fit_steps(rows)
    >>> sorted(fit.weights), fit.after["auroc"]
    (['certainty', 'chain', 'likelihood', 'visual'], 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from catts_graph.evaluation.logistic import logistic_fit, logistic_predict
from catts_graph.evaluation.metrics import auroc, ece
from nodes.errors import InvalidInputError
from nodes.steps import MISSING_SIGNAL, SIGNALS

L2 = 1e-2
NEWTON_STEPS = 50


@dataclass(frozen=True)
class StepFit:
    weights: dict[str, float]  # per signal; 0 for a signal the run did not measure
    bias: float
    n_steps: int
    before: dict[str, float]  # ECE and AUROC of the confidence the run recorded
    after: dict[str, float]  # ... and of the fitted combination, on the same steps


def fit_steps(rows: Sequence[Sequence[Any]]) -> StepFit:
    """Fit on step rows ``[answer?, *SIGNALS, confidence, stated, correct]`` whose truth is known."""
    judged = [row for row in rows if row[-1] is not None]
    if not judged or len({bool(row[-1]) for row in judged}) < 2:
        raise InvalidInputError(
            "no steps to fit: the run needs judged steps, right and wrong ones (greedy or majority lines of a "
            "`catts eval` run on items with reference steps)"
        )
    k = len(SIGNALS)
    values = np.array([[float(v) for v in row[1 : 1 + k]] for row in judged])  # (S, k) one column per signal
    correct = np.array([float(row[-1]) for row in judged])  # (S,)
    used = [j for j in range(k) if np.isfinite(values[:, j]).any()]
    x = np.where(np.isfinite(values[:, used]), values[:, used], MISSING_SIGNAL)  # (S, K)
    theta = logistic_fit(x, correct, l2=L2, max_steps=NEWTON_STEPS)  # (K+1,) bias first
    fitted = logistic_predict(theta, x)  # (S,)
    recorded = [float(row[1 + k]) for row in judged]  # the confidence the run combined
    weights = dict.fromkeys(SIGNALS, 0.0) | {SIGNALS[k]: float(theta[1 + i]) for i, k in enumerate(used)}
    return StepFit(
        weights=weights,
        bias=float(theta[0]),
        n_steps=len(judged),
        before={"ece": ece(recorded, correct.tolist()), "auroc": auroc(recorded, correct.tolist())},
        after={"ece": ece(fitted.tolist(), correct.tolist()), "auroc": auroc(fitted.tolist(), correct.tolist())},
    )
