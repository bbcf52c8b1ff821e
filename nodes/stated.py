"""Stated step confidence: a model trained the MMBoundary way follows each reasoning step with a short statement of
how sure it is, ``(confidence: high)``, in five levels (docs/method.md section 9.4).

`with_statements` writes them into a response (the SFT targets: each step's level from its internal score) and
`strip_statements` removes them; `nodes.steps.split_steps` reads them back as each step's `stated` score.

Example:
    >>> from nodes.steps import split_steps
    >>> text = "red circle, blue square. \\\\boxed{2}"
    >>> stated = with_statements(text, split_steps(text, "clauses"), [0.95, 0.35, 0.75])
    >>> stated
    'red circle, (confidence: very high) blue square. (confidence: low) \\\\boxed{2} (confidence: high)'
    >>> [(step.text, step.stated) for step in split_steps(stated, "clauses")]
    [('red circle,', 0.9), ('blue square.', 0.3), ('2', 0.7)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from nodes.steps import LEVELS, STATEMENT, Step

_ANSWER_CLOSE = re.compile(r"\}|</answer>")


def level(score: float) -> str:
    """The level a score in [0, 1] states: its fifth of the interval (NaN states `medium`)."""
    if not math.isfinite(score):
        return "medium"
    return LEVELS[min(len(LEVELS) - 1, max(0, int(score * len(LEVELS))))]


def with_statements(text: str, steps: Sequence[Step], scores: Sequence[float]) -> str:
    """`text` with ``(confidence: LEVEL)`` after each step (after the closing brace or tag of the answer step)."""
    out, position = [], 0
    for step, score in zip(steps, scores, strict=True):
        end = step.end
        if step.answer:
            close = _ANSWER_CLOSE.match(text, end)
            end = close.end() if close else end
        out += [text[position:end], f" (confidence: {level(score)})"]
        position = end
    return "".join(out) + text[position:]


def strip_statements(text: str) -> str:
    """`text` without its confidence statements."""
    return STATEMENT.sub("", text)
