"""Eliciting the declared answer confidence a sample did not write (ours, docs/method.md section 9.5).

A model trained to state ``(answer confidence: D/10)`` after its answer does not always write a readable one when
sampled at the graph's temperature. Such a sample's statement is asked for with one short teacher-forced request:
the sample's response (statements stripped) followed by the opened statement and a placeholder digit,
``... \\boxed{2} (answer confidence: 5``, scored by the model (`VisionLanguageModel.score` with top log-probs); the
top log-probs at the placeholder's position are the model's distribution over the digit it would write there, read
as its expected value (`nodes.stated.digit_expectation`). The placeholder itself is never read. Any served model
that was trained or prompted to state works this way; each sample records where its statement came from
(`stated_from`: ``written`` or ``elicited``).

Example:
    >>> elicitation_text("two circles. \\\\boxed{2} (answer confi")
    'two circles. \\\\boxed{2} (answer confi (answer confidence: 5'
    >>> score = AnswerScore((" (answer confidence: ", "5"), (-1.0, -2.3), 30, ((), (-0.2, -1.8)), ((), ("8", "3")))
    >>> round(elicited_confidence(score), 3)
    0.766
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nodes.declared import ConfidenceSource, resolve_source
from nodes.fanout import gather_or_cancel
from nodes.protocol import AnswerScore, Message, VisionLanguageModel
from nodes.state import SampleRecord, Usage, empty_usage
from nodes.stated import ANSWER_PREFIX, digit_expectation, strip_statements

PLACEHOLDER = "5"  # the digit the scored text ends with; only the distribution at its position is read
TOP_LOGPROBS = 20  # as many as vLLM serves by default: the ten digits rank among them


def elicitation_text(response: str) -> str:
    """What is scored to elicit `response`'s statement: the response without statements, then the statement opened
    up to the placeholder digit."""
    return f"{strip_statements(response).rstrip()} {ANSWER_PREFIX}{PLACEHOLDER}".lstrip()


def elicited_confidence(score: AnswerScore) -> float:
    """The expected statement at the scored text's last position (the placeholder digit's); where a tokenizer spells
    the placeholder with the space before it (`` 5``), the digits spelt the same way are read; NaN where that token
    is not the placeholder or its top tokens are unknown."""
    if not score.tokens or not score.tokens[-1].endswith(PLACEHOLDER) or len(score.top_tokens) != len(score.tokens):
        return math.nan
    prefix = score.tokens[-1][: -len(PLACEHOLDER)]  # "" or the whitespace the tokenizer glued to the digit
    if prefix.strip():
        return math.nan
    top = zip(score.top_tokens[-1], score.top_logprobs[-1], strict=False)
    return digit_expectation((token[len(prefix) :], lp) for token, lp in top if token.startswith(prefix))


def needs_statement(record: SampleRecord) -> bool:
    """Whether a sample declares nothing readable (its statement is then elicited)."""
    return not math.isfinite(record["stated_confidence"])


async def elicit_statements(
    model: VisionLanguageModel, messages: Sequence[Message], records: Sequence[SampleRecord]
) -> tuple[list[SampleRecord], Usage]:
    """`records` with every missing statement elicited (one score request each, concurrently; a statement that
    cannot be read stays NaN), and the requests' cost."""
    missing = [i for i, r in enumerate(records) if needs_statement(r)]
    scores = await gather_or_cancel(
        *(model.score(messages, elicitation_text(records[i]["text"]), top_logprobs=TOP_LOGPROBS) for i in missing)
    )
    out = list(records)
    for i, score in zip(missing, scores, strict=True):
        value = elicited_confidence(score)
        if math.isfinite(value):
            out[i] = {**records[i], "stated_confidence": value, "stated_from": "elicited"}
    usage: Usage = {
        **empty_usage(),
        "prompt_tokens": sum(s.prompt_tokens + len(s.logprobs) for s in scores),
        "model_calls": len(scores),
    }
    return out, usage


async def elicit_under_stated(
    model: VisionLanguageModel, messages: Sequence[Message], records: Sequence[SampleRecord], source: ConfidenceSource
) -> tuple[list[SampleRecord], Usage]:
    """Where `source` resolves to `stated` on `records` (configured, or detected under ``auto``), `records` with
    their missing statements elicited (`elicit_statements`); else `records` as they are, at no cost."""
    if resolve_source(records, source) != "stated" or not any(map(needs_statement, records)):
        return list(records), empty_usage()
    return await elicit_statements(model, messages, records)


def statement_counts(records: Sequence[SampleRecord]) -> dict[str, int]:
    """How many samples wrote their statement, had it elicited, or declare none."""
    origins = [r.get("stated_from") or "none" for r in records]
    return {origin: origins.count(origin) for origin in ("written", "elicited", "none")}
