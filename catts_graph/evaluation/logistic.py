"""L2-penalised logistic regression by Newton steps: the one fit behind the step-confidence combination, the
declared-confidence labels and the lab's probes.

Example:
    >>> theta = logistic_fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0.0, 0.0, 1.0, 1.0]), l2=0.1)
    >>> [round(float(p), 2) for p in logistic_predict(theta, np.array([[0.0], [3.0]]))]
    [0.02, 0.98]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def logistic_fit(x: FloatArray, y: FloatArray, *, l2: float, max_steps: int = 50) -> FloatArray:
    """The weights, bias first, of a logistic regression of `y` (0/1) on the rows of `x`; the bias is not penalised.
    The caller scales `x`; all-equal `y` gives diverging weights (check it first)."""
    design = np.concatenate([np.ones((len(x), 1)), x], axis=1)  # (S, K+1) bias column first
    penalty = l2 * np.diag([0.0] + [1.0] * x.shape[1])  # (K+1, K+1)
    theta = np.zeros(design.shape[1])  # (K+1,)
    for _ in range(max_steps):
        p = 1 / (1 + np.exp(-(design @ theta)))  # (S,)
        gradient = design.T @ (p - y) + penalty @ theta  # (K+1,)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(theta))  # (K+1, K+1)
        step = np.linalg.solve(hessian, gradient)  # (K+1,)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def logistic_predict(theta: FloatArray, x: FloatArray) -> FloatArray:
    """The fitted probability of each row of `x`."""
    p: FloatArray = 1 / (1 + np.exp(-(theta[0] + x @ theta[1:])))  # (S,)
    return p
