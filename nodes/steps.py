"""Reasoning steps of a response and the confidence of each (MMBoundary, arXiv 2505.23224; docs/method.md section 9).

A response is cut into steps: sentences (the default) or clauses (sentences cut again at ``,``, ``;`` and ``:``);
markup (``<tag>``, ``\\boxed{``, stated confidence ``(confidence: high)`` or ``(step confidence: high, low)``)
separates steps and is not part of one, and the final answer is always a step of its own. Per step, from the
log-probs the sampling call already returned:

- `likelihood`: ``exp(mean_t log p(y_t))`` over the step's tokens, in [0, 1];
- `certainty`: ``1 - mean_t H_t / log k``, with ``H_t`` the entropy of the top-k distribution renormalised over its
  k entries, in [0, 1];
- `visual` (when an image-text model is given): how well the step's text agrees with the image, in [0, 1]; not for
  the answer step (a bare answer says nothing an image-text model can check);
- `chain`: ``exp(min_t log p(y_t))`` over the response up to the step's end: the weakest point the step builds on,
  since an error early in a chain carries into every later step and the answer.

`combine` weighs the signals a step has into its `confidence`; a response's weakest step is the minimum.

Example:
    >>> [s.text for s in split_steps("red circle, blue square. \\\\boxed{2}", "clauses")]
    ['red circle,', 'blue square.', '2']
    >>> [s.text for s in split_steps("red circle, blue square. \\\\boxed{2}")]
    ['red circle, blue square.', '2']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypedDict, runtime_checkable

import numpy as np
from PIL import Image

from nodes.confidence import answer_span, finite_mean, probability_confidence

Splitter = Literal["sentences", "clauses"]
SIGNALS = ("likelihood", "certainty", "visual", "chain")
MISSING_SIGNAL = 0.5  # what an absent signal counts as in a fitted (logistic) combination

LEVELS = ("very low", "low", "medium", "high", "very high")  # stated confidence (`nodes.stated`)
LEVEL_SCORES = (0.1, 0.3, 0.5, 0.7, 0.9)  # what a stated level reads as: the middle of its fifth of [0, 1]
_LEVEL = "|".join(LEVELS)
STATEMENT = re.compile(rf"\s*\((?i:confidence: ({_LEVEL}))\)")  # one step's, written after it
SUMMARY = re.compile(rf"\s*\((?i:step confidence: ((?:{_LEVEL})(?:, (?:{_LEVEL}))*))\)")  # every step's, in order

_MARKUP = rf"<[^<>]*>|\\boxed\{{|\}}|\n+|{SUMMARY.pattern}|{STATEMENT.pattern}"
_SEPARATORS: dict[Splitter, re.Pattern[str]] = {
    "sentences": re.compile(rf"(?<=[.!?])\s+|{_MARKUP}"),
    "clauses": re.compile(rf"(?<=[.!?,;:])\s+|{_MARKUP}"),
}
_CONTENT = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True)
class Step:
    """One step: its text, its character span [start, end) in the response, whether it is the final answer, and the
    confidence a statement after it states (`nodes.stated`; NaN without one)."""

    text: str
    start: int
    end: int
    answer: bool = False
    stated: float = math.nan


class StepRecord(TypedDict):
    """A step as state: its text, span, whether it is the final answer, each signal (NaN when absent), the combined
    confidence, and the confidence the model stated after it (NaN without a statement)."""

    text: str
    start: int
    end: int
    answer: bool
    likelihood: float
    certainty: float
    visual: float
    chain: float
    confidence: float
    stated: float


def split_steps(text: str, splitter: Splitter = "sentences") -> list[Step]:
    """The steps of `text` in order: pieces between separators that hold a letter or digit, then the final answer."""
    span = answer_span(text)
    region_end = len(text) if span is None else span[0]
    steps, position = [], 0
    for separator in [*_SEPARATORS[splitter].finditer(text, 0, region_end), None]:
        end = region_end if separator is None else separator.start()
        piece = text[position:end]
        stripped = piece.strip()
        if _CONTENT.search(stripped):
            start = position + piece.index(stripped)
            steps.append(Step(stripped, start, start + len(stripped)))
        if separator is not None:
            position = separator.end()
    if span is not None:
        steps.append(Step(text[span[0] : span[1]], span[0], span[1], answer=True))
    summaries = list(SUMMARY.finditer(text))
    if summaries:  # one statement per step, in order, after the answer
        said = [_score(word) for word in summaries[-1].group(1).split(", ")]
        return [replace(step, stated=score) for step, score in zip(steps, said, strict=False)] + steps[len(said) :]
    marks = [(m.start(), _score(m.group(1))) for m in STATEMENT.finditer(text)]
    if not marks:
        return steps
    out = []
    for k, step in enumerate(steps):
        limit = steps[k + 1].start if k + 1 < len(steps) else len(text)
        said = [score for at, score in marks if step.end <= at <= limit]
        out.append(replace(step, stated=said[0]) if said else step)
    return out


def _score(level: str) -> float:
    return LEVEL_SCORES[LEVELS.index(level.lower())]


def token_indices(tokens: Sequence[str], step: Step) -> list[int]:
    """Indices of the tokens (texts, in order, spelling the response) that overlap the step's span."""
    out, position = [], 0
    for index, token in enumerate(tokens):
        end = position + len(token)
        if end > step.start and position < step.end:
            out.append(index)
        position = end
    return out


def token_certainties(top_logprobs: Sequence[Sequence[float]]) -> list[float]:
    """Per token, ``1 - H / log k`` of its top-k distribution renormalised over the k (NaN for k < 2 or NaN input).

    Rows of one length (a server's top-k) are computed as one (T, k) array; ragged rows one by one.
    """
    k = len(top_logprobs[0]) if top_logprobs else 0
    if k >= 2 and all(len(row) == k for row in top_logprobs):
        lp = np.asarray(top_logprobs, dtype=np.float64)  # (T, k)
        finite = np.asarray(np.isfinite(lp).all(axis=1))  # (T,)
        lp = np.where(finite[:, None], lp, 0.0)  # (T, k) rows with a NaN or inf become NaN below
        q = np.exp(lp - lp.max(axis=1, keepdims=True))  # (T, k) unnormalised, stable
        q /= q.sum(axis=1, keepdims=True)  # (T, k) renormalised over the top k
        entropy = -(q * np.log(np.clip(q, 1e-300, None))).sum(axis=1)  # (T,)
        return np.where(finite, 1.0 - entropy / math.log(k), math.nan).tolist()  # type: ignore[no-any-return]
    out = []
    for row in top_logprobs:
        lp = np.asarray(row, dtype=np.float64)  # (k,)
        if lp.size < 2 or not np.isfinite(lp).all():
            out.append(math.nan)
            continue
        q = np.exp(lp - lp.max())  # (k,) unnormalised, stable
        q /= q.sum()  # (k,) renormalised over the top k
        entropy = float(-(q * np.log(np.clip(q, 1e-300, None))).sum())
        out.append(1.0 - entropy / math.log(lp.size))
    return out


def combine(signals: Mapping[str, float], weights: Mapping[str, float], bias: float | None = None) -> float:
    """A step's confidence from its signals (keys of `SIGNALS`; NaN = absent).

    Without `bias`: the `weights`-weighted mean of the signals the step has (NaN with none). With a `bias` (what
    `catts calibrate` fits on steps whose truth is known): ``sigmoid(bias + sum_i w_i s_i)``, an absent signal
    counting as `MISSING_SIGNAL`.

    >>> combine({"likelihood": 0.9, "certainty": 0.5, "visual": math.nan}, {"likelihood": 1, "certainty": 1})
    0.7
    """
    if bias is None:
        present = [(weights.get(n, 0.0), v) for n, v in signals.items() if math.isfinite(v)]
        total = sum(w for w, _ in present if w > 0)
        return sum(w * v for w, v in present if w > 0) / total if total > 0 else math.nan
    values = {n: v if math.isfinite(v) else MISSING_SIGNAL for n, v in signals.items()}
    logit = bias + sum(w * values.get(n, MISSING_SIGNAL) for n, w in weights.items())
    return 1.0 / (1.0 + math.exp(-logit))


def step_records(
    tokens: Sequence[str],
    logprobs: Sequence[float],
    top_logprobs: Sequence[Sequence[float]],
    steps: Sequence[Step],
    *,
    visual: Sequence[float] | None = None,
    weights: Mapping[str, float],
    bias: float | None = None,
) -> list[StepRecord]:
    """Every step with its signals and combined confidence, from a response's per-token log-probs (aligned lists)."""
    certainty = token_certainties(top_logprobs)  # (T,)
    lowest = np.minimum.accumulate(np.nan_to_num(np.asarray(logprobs, dtype=np.float64), nan=np.inf))  # (T,)
    records: list[StepRecord] = []
    for k, step in enumerate(steps):
        index = token_indices(tokens, step)
        signals = {
            "likelihood": probability_confidence([logprobs[i] for i in index]),
            "certainty": finite_mean([certainty[i] for i in index]),
            "visual": math.nan if visual is None or step.answer else visual[k],
            "chain": math.exp(lowest[index[-1]]) if index and np.isfinite(lowest[index[-1]]) else math.nan,
        }
        record: StepRecord = {
            "text": step.text,
            "start": step.start,
            "end": step.end,
            "answer": step.answer,
            "likelihood": signals["likelihood"],
            "certainty": signals["certainty"],
            "visual": signals["visual"],
            "chain": signals["chain"],
            "confidence": combine(signals, weights, bias),
            "stated": step.stated,
        }
        records.append(record)
    return records


@runtime_checkable
class ImageTextModel(Protocol):
    """Scores how well texts agree with an image (e.g. `catts_graph.perception.clip_relevance.ClipRelevance`)."""

    def agreement(self, image: Image.Image, texts: Sequence[str]) -> list[float]:
        """One score in [0, 1] per text: how well it describes what the image shows."""
        ...


def step_summary(record: StepRecord) -> dict[str, float | str]:
    """A step's text and confidence, rounded for events and tables."""
    return {"text": record["text"], "confidence": round(record["confidence"], 4)}


def weakest_step_text(records: Sequence[StepRecord]) -> str | None:
    """The text of the least confident step (None when no step has a confidence)."""
    finite = [r for r in records if math.isfinite(r["confidence"])]
    return min(finite, key=lambda r: r["confidence"])["text"] if finite else None


def weakest_step(records: Sequence[StepRecord]) -> float:
    """The lowest step confidence of a response (NaN when no step has one)."""
    finite = [r["confidence"] for r in records if math.isfinite(r["confidence"])]
    return min(finite) if finite else math.nan
