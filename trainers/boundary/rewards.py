"""MMBoundary's reward components over rollouts that state a confidence after each step (`nodes.stated`), as small
pure functions (docs/method.md section 9.4).

- `step_correctness_rewards`: the share of a response's steps that are right against the item's reference steps
  (`catts_graph.evaluation.steps.step_truth`; the answer step by the project's matcher); 0 without steps.
- `stated_calibration_rewards`: 1 - the mean squared gap between each step's stated confidence and its truth; 0
  without steps.
- `internal_agreement_rewards`: 1 - the mean absolute gap between each step's stated confidence and the internal
  score of the same step (a step with no internal score counts a gap of 0.5).

A step with no statement (none written, or garbled past reading) counts the largest gap, 1: stating nothing must
never pay better than stating, or the policy learns to stop stating.

Example:
    >>> text = "red circle, (confidence: high) blue square. (confidence: low) \\\\boxed{1} (confidence: very low)"
    >>> step_correctness_rewards([text], [("red circle",)], ["1"], ["integer"], "clauses")
    [0.6666666666666666]
    >>> [round(r, 3) for r in stated_calibration_rewards([text], [("red circle",)], ["1"], ["integer"], "clauses")]
    [0.67]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from catts_graph.evaluation.steps import step_truth
from nodes.answers import AnswerType, extract_answer, normalize_answer
from nodes.stated import strip_statements
from nodes.steps import Splitter, Step, split_steps

UNSTATED_GAP = 1.0  # the gap of a step without a statement: the largest there is
UNSCORED_GAP = 0.5  # the agreement gap of a stated step without an internal score


def judged_steps(
    text: str, reference: Sequence[str] | None, answer: str, answer_type: AnswerType | None, splitter: Splitter
) -> list[tuple[Step, float, bool | None]]:
    """Each step of a stated response with its stated score (NaN: none) and its truth (None: unknown)."""
    steps = split_steps(text, splitter)
    predicted = extract_answer(strip_statements(text), answer_type=answer_type)
    right = predicted is not None and predicted == normalize_answer(answer, answer_type)
    truth = step_truth([s.text for s in steps], [s.answer for s in steps], reference, right)
    return [(step, step.stated, known) for step, known in zip(steps, truth, strict=True)]


def step_correctness_rewards(
    completions: Sequence[str],
    references: Sequence[Sequence[str] | None],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    splitter: Splitter = "clauses",
) -> list[float]:
    """The share of each response's judged steps that are right (0.0 with none judged)."""
    out = []
    for text, reference, answer, kind in zip(completions, references, answers, answer_types, strict=True):
        known = [truth for _, _, truth in judged_steps(text, reference, answer, kind, splitter) if truth is not None]
        out.append(sum(known) / len(known) if known else 0.0)
    return out


def stated_calibration_rewards(
    completions: Sequence[str],
    references: Sequence[Sequence[str] | None],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    splitter: Splitter = "clauses",
) -> list[float]:
    """1 - mean (stated - right)^2 over each response's judged steps (0.0 with none judged)."""
    out = []
    for text, reference, answer, kind in zip(completions, references, answers, answer_types, strict=True):
        gaps = [
            (score - float(truth)) ** 2 if math.isfinite(score) else UNSTATED_GAP
            for _, score, truth in judged_steps(text, reference, answer, kind, splitter)
            if truth is not None
        ]
        out.append(1.0 - sum(gaps) / len(gaps) if gaps else 0.0)
    return out


def internal_agreement_rewards(
    completions: Sequence[str], internal: Sequence[Sequence[float]], splitter: Splitter = "clauses"
) -> list[float]:
    """1 - mean |stated - internal| over each response's steps, `internal` giving each step's internal score."""
    out = []
    for text, scores in zip(completions, internal, strict=True):
        stated = [step.stated for step in split_steps(text, splitter)]
        if not stated:
            out.append(0.0)
            continue
        gaps = [
            UNSTATED_GAP if not math.isfinite(said) else abs(said - inner) if math.isfinite(inner) else UNSCORED_GAP
            for said, inner in zip(stated, [*scores, *[math.nan] * len(stated)][: len(stated)], strict=True)
        ]
        out.append(1.0 - sum(gaps) / len(gaps))
    return out
