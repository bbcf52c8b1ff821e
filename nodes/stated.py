"""Stated step confidence: a model trained the MMBoundary way states how sure it is of each reasoning step in one of
five levels (docs/method.md section 9.4), in one of two placements:

- ``inline`` (MMBoundary's): ``(confidence: high)`` after each step, so every later step is written after it;
- ``end`` (ours): one ``(step confidence: high, low, ...)`` after the answer, a level per step in order, so the
  reasoning and the answer are written exactly as without statements.

`with_statements` writes them into a response (the SFT targets: each step's level from its internal score) and
`strip_statements` removes them; `nodes.steps.split_steps` reads them back as each step's `stated` score.

The declared answer confidence (ours, docs/method.md section 9.5): a calibrated model states how sure it is of its
final answer once, after the whole response, in tenths: ``(answer confidence: 7/10)``. `with_answer_statement`
writes it, `stated_answer_confidence` reads the written digit back (the middle of its tenth, 0.75 for ``7/10``; NaN
without one), and `strip_statements` removes it too. One digit a level: the small models' tokenizers spell it as one
token, so the statement is read as its *expected* value: the top log-probs at the digit's position, renormalised
over the digit tokens ``0``..``9`` (`ANSWER_DIGITS`), weigh each digit's value (`digit_expectation`).
`declared_answer_confidence` reads a generated response that way (the written digit where the position's top
tokens are unknown); trainers read the same position (`statement_position`) under teacher forcing.

Example:
    >>> from nodes.steps import split_steps
    >>> text = "red circle, blue square. \\\\boxed{2}"
    >>> stated = with_statements(text, split_steps(text, "clauses"), [0.95, 0.35, 0.75])
    >>> stated
    'red circle, (confidence: very high) blue square. (confidence: low) \\\\boxed{2} (confidence: high)'
    >>> [(step.text, step.stated) for step in split_steps(stated, "clauses")]
    [('red circle,', 0.9), ('blue square.', 0.3), ('2', 0.7)]
    >>> at_end = with_statements(text, split_steps(text, "clauses"), [0.95, 0.35, 0.75], placement="end")
    >>> at_end
    'red circle, blue square. \\\\boxed{2} (step confidence: very high, low, high)'
    >>> [step.stated for step in split_steps(at_end, "clauses")]
    [0.9, 0.3, 0.7]
    >>> declared = with_answer_statement(text, 0.72)
    >>> declared, stated_answer_confidence(declared), strip_statements(declared) == text
    ('red circle, blue square. \\\\boxed{2} (answer confidence: 7/10)', 0.75, True)
    >>> round(digit_expectation([("7", -0.1), ("8", -2.4), ("the", -3.0)]), 3)  # 7/10 read as 0.75, 8/10 as 0.85
    0.759
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from nodes.protocol import TokenLogprob
from nodes.steps import LEVELS, STATEMENT, SUMMARY, Step

Placement = Literal["inline", "end"]
PLACEMENTS: tuple[Placement, ...] = ("inline", "end")

_ANSWER_CLOSE = re.compile(r"\}|</answer>")

ANSWER_DIGITS = tuple(str(d) for d in range(10))  # the declared answer confidence's levels, in tenths
ANSWER_PREFIX = "(answer confidence: "
ANSWER_STATEMENT = re.compile(r"\s*\((?i:answer confidence): ([0-9])/10\)")  # after the answer


def answer_level(score: float) -> str:
    """The tenth of [0, 1] a score falls in, as the digit a declared answer confidence states (NaN states 5)."""
    if not math.isfinite(score):
        return "5"
    return ANSWER_DIGITS[min(9, max(0, int(score * 10)))]


def digit_score(digit: int) -> float:
    """What a stated digit reads as: the middle of its tenth of [0, 1]."""
    return (digit + 0.5) / 10


def with_answer_statement(text: str, score: float) -> str:
    """`text` with its declared answer confidence stated after it."""
    return f"{text} {ANSWER_PREFIX}{answer_level(score)}/10)"


def answer_statement(text: str) -> re.Match[str] | None:
    """The last declared answer confidence in `text` (None without one)."""
    found = list(ANSWER_STATEMENT.finditer(text))
    return found[-1] if found else None


def stated_answer_confidence(text: str) -> float:
    """The confidence a response declares for its answer, in [0, 1]; NaN when it states none."""
    found = answer_statement(text)
    return digit_score(int(found.group(1))) if found else math.nan


def statement_position(tokens: Sequence[str], text: str | None = None) -> int | None:
    """The index of the token that spells the digit of the declared answer confidence in `text` (default: the
    tokens joined), `tokens` spelling `text`'s end; None without a statement or where the digit shares its token."""
    text = "".join(tokens) if text is None else text
    found = answer_statement(text)
    if found is None:
        return None
    at, position = found.start(1), len(text)
    for index in range(len(tokens) - 1, -1, -1):  # the statement ends the response: walk back from the end
        position -= len(tokens[index])
        if position <= at:
            return index if position == at and tokens[index] == found.group(1) else None
    return None


def digit_expectation(top: Iterable[tuple[str, float]]) -> float:
    """The expected declared confidence at a statement's digit position, from its top ``(token, log-prob)`` pairs:
    the probabilities of the digit tokens renormalised, each digit read as the middle of its tenth; NaN when no
    digit is among them."""
    digits = [(int(token), logprob) for token, logprob in top if token in ANSWER_DIGITS]
    if not digits:
        return math.nan
    peak = max(logprob for _, logprob in digits)
    weights = [(digit, math.exp(logprob - peak)) for digit, logprob in digits]  # (D,) stable softmax
    return sum(w * digit_score(d) for d, w in weights) / sum(w for _, w in weights)


def declared_answer_confidence(text: str, tokens: Sequence[TokenLogprob]) -> float:
    """The confidence a generated response declares for its answer, read as its expected value at the digit's
    token (`digit_expectation`); the written digit where that position or its top tokens are unknown; NaN when the
    response states none."""
    found = answer_statement(text)
    if found is None:
        return math.nan
    # the tokens may spell more than the text (a server lists the end-of-turn token, which the text leaves out)
    position = statement_position([t.token for t in tokens]) if tokens else None
    if position is not None and tokens[position].top_tokens:
        step = tokens[position]
        expected = digit_expectation(zip(step.top_tokens, step.top_logprobs, strict=False))
        if math.isfinite(expected):
            return expected
    return digit_score(int(found.group(1)))


def level(score: float) -> str:
    """The level a score in [0, 1] states: its fifth of the interval (NaN states `medium`)."""
    if not math.isfinite(score):
        return "medium"
    return LEVELS[min(len(LEVELS) - 1, max(0, int(score * len(LEVELS))))]


def with_statements(
    text: str, steps: Sequence[Step], scores: Sequence[float], *, placement: Placement = "inline"
) -> str:
    """`text` with the level of each step's score stated: after the step (``inline``; after the closing brace or tag
    of the answer step) or all together after the response (``end``)."""
    if placement == "end":
        if len(scores) != len(steps):
            raise ValueError(f"{len(scores)} scores for {len(steps)} steps")
        return f"{text} (step confidence: {', '.join(level(score) for score in scores)})" if steps else text
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
    """`text` without its confidence statements (either step placement, and the declared answer confidence)."""
    return STATEMENT.sub("", SUMMARY.sub("", ANSWER_STATEMENT.sub("", text)))
