"""CDRL reward components (METHOD.md section 3), as small pure functions over one GRPO group of G rollouts.

``r_j = R_acc + R_format + alpha * tanh(beta * (C_j - C'_j)) + (2 * R_acc - 1) * Cnorm_j``

- `accuracy_rewards`: 1 when the rollout's boxed answer matches the reference, else 0.
- `format_rewards`: 1 when the rollout ends its answer in exactly one parseable ``\\boxed{...}``, else 0.
- `perception_rewards`: ``alpha * tanh(beta * (C - C'))``, C the rollout's confidence on the clean image and C' the
  same text's confidence teacher-forced on the noised twin: paid when confidence falls with the evidence.
- `calibration_rewards`: ``(2 * R_acc - 1) * Cnorm``: confident-and-right is rewarded, confident-and-wrong punished.
  ``Cnorm`` (ours, documented choice): ``group`` min-max of C over the G rollouts of one prompt (default; a group
  whose confidences are all equal gets 0.5), or ``sigmoid`` of C centred on the group mean (smooth, never constant).

C and C' are NMLP response confidences (`nodes.confidence`), higher = more confident. All functions take and return
plain lists, so they pickle and table-test; `cdrl_rewards` returns every component separately for logging.

Example:
    >>> calibration_rewards([1.0, 0.0], [2.0, 4.0])  # right at low confidence, wrong at the group's highest
    [0.0, -1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from nodes.answers import AnswerType, extract_answer, extract_boxed

Normalisation = Literal["group", "sigmoid"]


def accuracy_rewards(
    completions: Sequence[str], answers: Sequence[str], answer_types: Sequence[AnswerType | None]
) -> list[float]:
    """1.0 where the extracted answer equals the (normalised) reference, else 0.0."""
    out = []
    for text, gold, answer_type in zip(completions, answers, answer_types, strict=True):
        predicted = extract_answer(text, answer_type=answer_type)
        reference = extract_answer(f"\\boxed{{{gold}}}", answer_type=answer_type)
        out.append(1.0 if predicted is not None and predicted == reference else 0.0)
    return out


def format_rewards(completions: Sequence[str]) -> list[float]:
    """1.0 for exactly one ``\\boxed{...}`` with content, closing the response (only whitespace after it)."""
    out = []
    for text in completions:
        boxed = extract_boxed(text)
        single = text.count("\\boxed{") == 1 and boxed is not None and boxed.strip() != ""
        closes = single and text.rstrip().endswith("}")
        out.append(1.0 if closes else 0.0)
    return out


def perception_rewards(
    clean: Sequence[float], noised: Sequence[float], *, alpha: float = 0.5, beta: float = 1.0
) -> list[float]:
    """``alpha * tanh(beta * (C - C'))`` per rollout; a NaN confidence (no tokens) earns 0."""
    return [
        0.0 if math.isnan(c - n) else alpha * math.tanh(beta * (c - n)) for c, n in zip(clean, noised, strict=True)
    ]


def normalised_confidence(confidences: Sequence[float], how: Normalisation = "group") -> list[float]:
    """Cnorm in [0, 1] for one group of rollouts (NaN confidences count as the group minimum)."""
    finite = [c for c in confidences if math.isfinite(c)]
    if not finite:
        return [0.5] * len(confidences)
    low, high = min(finite), max(finite)
    values = [c if math.isfinite(c) else low for c in confidences]
    if how == "sigmoid":
        mean = sum(values) / len(values)
        return [1.0 / (1.0 + math.exp(-(v - mean))) for v in values]
    if high - low < 1e-12:
        return [0.5] * len(values)
    return [(v - low) / (high - low) for v in values]


def calibration_rewards(
    accuracy: Sequence[float], confidences: Sequence[float], how: Normalisation = "group"
) -> list[float]:
    """``(2 * R_acc - 1) * Cnorm`` for one group of rollouts."""
    return [(2.0 * a - 1.0) * n for a, n in zip(accuracy, normalised_confidence(confidences, how), strict=True)]


def cdrl_rewards(
    completions: Sequence[str],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    clean: Sequence[float],
    noised: Sequence[float],
    *,
    alpha: float = 0.5,
    beta: float = 1.0,
    normalisation: Normalisation = "group",
) -> dict[str, list[float]]:
    """Every component and the total for one group (the G rollouts of one prompt)."""
    accuracy = accuracy_rewards(completions, answers, answer_types)
    fmt = format_rewards(completions)
    perception = perception_rewards(clean, noised, alpha=alpha, beta=beta)
    calibration = calibration_rewards(accuracy, clean, normalisation)
    total = [sum(parts) for parts in zip(accuracy, fmt, perception, calibration, strict=True)]
    return {"accuracy": accuracy, "format": fmt, "perception": perception, "calibration": calibration, "total": total}
