"""Confidence of a generated response from its per-token top-k log-probabilities (pure NumPy, no torch).

Conventions (docs/method.md section 2): higher = more confident.

- Token confidence (NMLP): ``c_t = -(1/k) * sum_{j<=k} log p_t(j)`` over the top-k log-probs at step t. A peaked
  distribution puts most candidates far below the top one, so ``c_t`` is *large* when the model is sure.
- Response confidence: ``C = mean_t c_t``.
- DeepConf variants (arXiv 2508.15260): tail (mean of the last W tokens), bottom-10% group confidence (mean of the
  lowest 10% of sliding-window means) and lowest-window confidence.
- Probability-scale confidence for calibration metrics: ``exp(mean_t log p(y_t))`` of the sampled tokens, or the
  probability of the final answer's span given the rationale before it (``answer_probability``).

Undefined values are NaN, never silently 0: a token without top-k log-probs has NaN confidence and is skipped by the
response-level functions; a response with no usable token has NaN confidence.

Example:
    >>> round(token_confidence([-0.01, -5.0, -7.0]), 3)
    4.003
    >>> round(response_confidence([[-0.01, -5.0, -7.0], [-0.7, -0.7]]), 3)
    2.352
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from nodes.answers import extract_raw_answer

FloatArray = npt.NDArray[np.float64]

DEFAULT_TAIL_TOKENS = 2048  # DeepConf's tail window
DEFAULT_GROUP_WINDOW = 2048  # DeepConf's sliding-window size (shorter traces use one window over all tokens)
DEFAULT_BOTTOM_PERCENT = 10.0


def _as_matrix(top_logprobs: Sequence[Sequence[float]]) -> FloatArray:
    """Ragged per-token top-k lists -> a (T, k_max) matrix padded with NaN."""
    k_max = max((len(row) for row in top_logprobs), default=0)
    out = np.full((len(top_logprobs), k_max), np.nan)  # (T, k_max)
    for t, row in enumerate(top_logprobs):
        out[t, : len(row)] = row  # (k_t,)
    return out


def token_confidences(top_logprobs: Sequence[Sequence[float]]) -> FloatArray:
    """Per-token confidence ``c_t = -mean_j log p_t(j)`` for each step's top-k log-probs.

    Args:
        top_logprobs: one list per generated token with its top-k log-probs (k may vary; empty rows allowed).

    Returns:
        A float array of shape (T,); NaN where a token has no log-probs or any NaN among them.
    """
    lp = _as_matrix(top_logprobs)  # (T, k_max), NaN-padded
    if lp.shape[1] == 0:
        return np.full(len(top_logprobs), np.nan, dtype=np.float64)  # (T,)
    k = np.array([len(row) for row in top_logprobs], dtype=np.float64)  # (T,)
    padded = np.isnan(lp) & (np.arange(lp.shape[1])[None, :] >= k[:, None])  # (T, k_max) True on padding only
    total = np.where(padded, 0.0, lp).sum(axis=1)  # (T,) NaN if a real entry is NaN
    with np.errstate(invalid="ignore", divide="ignore"):
        c: FloatArray = -total / k  # (T,) division by k=0 gives NaN/inf
    c[k == 0] = np.nan
    return c


def token_confidence(top_logprobs: Sequence[float]) -> float:
    """Confidence of one token from its top-k log-probs (NaN if empty)."""
    return float(token_confidences([top_logprobs])[0])


def _finite(values: FloatArray) -> FloatArray:
    finite: FloatArray = values[np.isfinite(values)]  # (T',) T' <= T
    return finite


def mean_confidence(token_conf: FloatArray) -> float:
    """Mean of the finite per-token confidences; NaN if there are none."""
    c = _finite(np.asarray(token_conf, dtype=np.float64))  # (T',)
    return float(c.mean()) if c.size else math.nan


def finite_mean(values: Iterable[float]) -> float:
    """Mean of the finite values (per-sample confidences, per-item scores); NaN if there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def response_confidence(top_logprobs: Sequence[Sequence[float]]) -> float:
    """Response confidence ``C = mean_t c_t`` (NMLP), skipping tokens without usable log-probs."""
    return mean_confidence(token_confidences(top_logprobs))


def tail_confidence(token_conf: FloatArray, tail_tokens: int = DEFAULT_TAIL_TOKENS) -> float:
    """Mean confidence of the last `tail_tokens` usable tokens (DeepConf "tail")."""
    if tail_tokens < 1:
        raise ValueError(f"tail_tokens must be >= 1, got {tail_tokens}")
    c = _finite(np.asarray(token_conf, dtype=np.float64))  # (T',)
    return float(c[-tail_tokens:].mean()) if c.size else math.nan


def group_confidences(token_conf: FloatArray, window: int = DEFAULT_GROUP_WINDOW) -> FloatArray:
    """Sliding-window means of the usable token confidences.

    Returns shape (T' - W + 1,) for T' >= W, or one mean over all tokens when the trace is shorter than the window
    (DeepConf's behaviour), or an empty array when no token is usable.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    c = _finite(np.asarray(token_conf, dtype=np.float64))  # (T',)
    if c.size == 0:
        return np.empty(0)
    if c.size < window:
        return np.array([c.mean()])  # (1,)
    csum = np.concatenate([[0.0], np.cumsum(c)])  # (T'+1,)
    means: FloatArray = (csum[window:] - csum[:-window]) / window  # (T'-W+1,)
    return means


def bottom_percent_confidence(
    token_conf: FloatArray, window: int = DEFAULT_GROUP_WINDOW, percent: float = DEFAULT_BOTTOM_PERCENT
) -> float:
    """Mean of the lowest `percent`% of sliding-window confidences (at least one window): DeepConf "bottom-10%"."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    groups = group_confidences(token_conf, window)  # (G,)
    if groups.size == 0:
        return math.nan
    n = max(1, math.ceil(groups.size * percent / 100))
    return float(np.sort(groups)[:n].mean())  # lowest n of (G,)


def lowest_group_confidence(token_conf: FloatArray, window: int = DEFAULT_GROUP_WINDOW) -> float:
    """The lowest sliding-window confidence (DeepConf "lowest group")."""
    groups = group_confidences(token_conf, window)  # (G,)
    return float(groups.min()) if groups.size else math.nan


def probability_confidence(token_logprobs: Sequence[float]) -> float:
    """``exp(mean log p)`` of the sampled tokens: a confidence in [0, 1] for calibration metrics (NaN if none)."""
    lp = _finite(np.asarray(token_logprobs, dtype=np.float64))  # (T',)
    return float(np.exp(lp.mean())) if lp.size else math.nan


def answer_span(text: str) -> tuple[int, int] | None:
    """Character offsets [start, end) of a response's final answer (the last ``\\boxed{}`` content, else the last
    "answer is X" phrase), or None when it has none."""
    raw = extract_raw_answer(text)
    if not raw:
        return None
    start = text.rfind(raw)
    return (start, start + len(raw)) if start >= 0 else None


def span_log_prob(tokens: Sequence[str], logprobs: Sequence[float], span: tuple[int, int]) -> float:
    """Sum of the log-probs of the tokens (texts, in order) that overlap the character span (NaN when none does)."""
    total, position, hit = 0.0, 0, False
    for token, logprob in zip(tokens, logprobs, strict=True):
        end = position + len(token)
        if end > span[0] and position < span[1]:
            total, hit = total + logprob, True
        position = end
    return total if hit else math.nan


def answer_probability(tokens: Sequence[str], logprobs: Sequence[float]) -> float:
    """P(final answer span | everything written before it) of a generated response: exp of the summed log-probs of
    the tokens that spell the answer (NaN when the response has no answer)."""
    span = answer_span("".join(tokens))
    return math.exp(span_log_prob(tokens, logprobs, span)) if span is not None else math.nan
