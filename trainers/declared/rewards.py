"""CDRL's reward components computed on the declared answer confidence (`nodes.stated`), as small pure functions
(docs/method.md section 9.5). Each rollout is one view of a pair: the clean image or its noised twin.

- `declared_accuracy_rewards`: 1 when a *clean* rollout's answer is right (graded as `catts eval` grades), else 0;
  0 on the noised view, whose evidence is destroyed: there is nothing to get right by looking.
- `declared_calibration_rewards`: 1 - (declared - right)^2, the Brier score of the statement against the answer's
  correctness, on both views.
- `declared_perception_rewards`: ``alpha * tanh(beta * (C - C'))`` on the noised view, C' the confidence the rollout
  declares on the noised twin and C the confidence the policy declares for the same response on the clean image
  (its expected statement, teacher-forced); 0 on the clean view.

A rollout that declares nothing (none written, or garbled past reading) earns the worst calibration (0) and the
worst perception (-alpha): stating nothing must never pay better than stating.

Example:
    >>> text = "two circles. \\\\boxed{2} (answer confidence: 8/10)"
    >>> declared_accuracy_rewards([text, text], ["2", "2"], ["integer", "integer"], ["clean", "noised"])
    [1.0, 0.0]
    >>> [round(r, 4) for r in declared_calibration_rewards([text], ["3"], ["integer"])]
    [0.2775]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nodes.answers import AnswerType
from nodes.stated import stated_answer_confidence, strip_statements
from trainers.cdrl.rewards import is_correct


def declared_accuracy_rewards(
    completions: Sequence[str],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    views: Sequence[str],
    choices: Sequence[Sequence[str] | None] | None = None,
) -> list[float]:
    """1.0 where a clean rollout's answer is right, else 0.0 (always 0.0 on the noised view)."""
    options = choices if choices is not None else [None] * len(answers)
    rows = zip(completions, answers, answer_types, views, options, strict=True)
    return [
        1.0 if view == "clean" and is_correct(strip_statements(text), gold, kind, opts) else 0.0
        for text, gold, kind, view, opts in rows
    ]


def declared_calibration_rewards(
    completions: Sequence[str],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    choices: Sequence[Sequence[str] | None] | None = None,
) -> list[float]:
    """1 - (declared - right)^2 per rollout; 0.0 (the largest gap) where it declares nothing."""
    options = choices if choices is not None else [None] * len(answers)
    out = []
    for text, gold, kind, opts in zip(completions, answers, answer_types, options, strict=True):
        declared = stated_answer_confidence(text)
        right = float(is_correct(strip_statements(text), gold, kind, opts))
        out.append(1.0 - (declared - right) ** 2 if math.isfinite(declared) else 0.0)
    return out


def declared_perception_rewards(
    completions: Sequence[str],
    views: Sequence[str],
    clean_declared: Sequence[float],
    *,
    alpha: float = 0.5,
    beta: float = 1.0,
) -> list[float]:
    """``alpha * tanh(beta * (C - C'))`` on each noised rollout (C' its own statement, C `clean_declared`, the
    statement the policy expects to make for it on the clean image); -alpha when it declares nothing; 0.0 on the
    clean view or where C is unknown."""
    out = []
    for text, view, clean in zip(completions, views, clean_declared, strict=True):
        if view != "noised":
            out.append(0.0)
            continue
        noised = stated_answer_confidence(text)
        if not math.isfinite(noised):
            out.append(-alpha)
        else:
            out.append(alpha * math.tanh(beta * (clean - noised)) if math.isfinite(clean) else 0.0)
    return out
