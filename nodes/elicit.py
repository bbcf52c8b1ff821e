"""Eliciting the declared answer confidence a sample did not write (ours, docs/method.md section 9.5).

A model trained to state ``(answer confidence: D/10)`` after its answer does not always write a readable one when
sampled at the graph's temperature. Such a sample's statement is asked for with one short teacher-forced request:
the sample's response (statements stripped) followed by the opened statement and a placeholder digit,
``... \\boxed{2} (answer confidence: 5``, scored by the model (`VisionLanguageModel.score` with top log-probs); the
top log-probs at the placeholder's position are the model's distribution over the digit it would write there, read
as its expected value (`nodes.stated.digit_expectation`). The placeholder itself is never read. Any served model
that was trained or prompted to state works this way; each sample records where its statement came from
(`stated_from`: ``written`` or ``elicited``).

Which samples are elicited is the run's `Elicit` setting (``confidence.elicit``): ``missing`` (the default) only
those without a readable statement; ``all`` every one, the samples then drawn with generation stopped where the
statement opens (`statement_stop`, at its first word), so a sampled answer is not followed by a sampled (often
garbled) statement.

Example:
    >>> elicitation_text("two circles. \\\\boxed{2} (answer confi")
    'two circles. \\\\boxed{2} (answer confi (answer confidence: 5'
    >>> score = AnswerScore((" (answer confidence: ", "5"), (-1.0, -2.3), 30, ((), (-0.2, -1.8)), ((), ("8", "3")))
    >>> round(elicited_confidence(score), 3)
    0.766
    >>> statement_stop(SamplingParams(n=8), "all").stop
    ('(answer',)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from nodes.declared import ConfidenceSource, Elicit, resolve_source
from nodes.fanout import gather_or_cancel
from nodes.protocol import AnswerScore, Message, SamplingParams, VisionLanguageModel
from nodes.state import SampleRecord, Usage, empty_usage
from nodes.stated import ANSWER_PREFIX, digit_expectation, strip_statements

PLACEHOLDER = "5"  # the digit the scored text ends with; only the distribution at its position is read
TOP_LOGPROBS = 20  # as many as vLLM serves by default: the ten digits rank among them
STOP = ANSWER_PREFIX.split(" ")[0]  # "(answer": under ``all``, generation stops where the statement opens (the stop
# text is not returned); the first word only, as a small model at T = 1.0 garbles the rest of the opening itself


def statement_stop(params: SamplingParams, elicit: Elicit) -> SamplingParams:
    """`params` as a run draws with `elicit`: under ``all`` generation also stops where the statement opens."""
    if elicit != "all" or STOP in params.stop:
        return params
    return dataclasses.replace(params, stop=(*params.stop, STOP))


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


def needs_statement(record: SampleRecord, elicit: Elicit = "missing") -> bool:
    """Whether a sample's statement is to be elicited: under ``missing`` where it declares nothing readable, under
    ``all`` wherever it was not elicited already (a written one is asked again)."""
    if elicit == "all":
        return record.get("stated_from") != "elicited"
    return not math.isfinite(record["stated_confidence"])


async def elicit_statements(
    model: VisionLanguageModel,
    messages: Sequence[Message],
    records: Sequence[SampleRecord],
    elicit: Elicit = "missing",
) -> tuple[list[SampleRecord], Usage]:
    """`records` with the statements `elicit` asks for elicited (`needs_statement`; one score request each,
    concurrently); a statement that cannot be read stays NaN (under ``all``, NaN and no longer ``written``), and the
    requests' cost."""
    missing = [i for i, r in enumerate(records) if needs_statement(r, elicit)]
    scores = await gather_or_cancel(
        *(model.score(messages, elicitation_text(records[i]["text"]), top_logprobs=TOP_LOGPROBS) for i in missing)
    )
    out = list(records)
    for i, score in zip(missing, scores, strict=True):
        value = elicited_confidence(score)
        if math.isfinite(value):
            out[i] = {**records[i], "stated_confidence": value, "stated_from": "elicited"}
        elif elicit == "all":  # every statement is the elicited one: a written one is not read instead
            out[i] = {**records[i], "stated_confidence": math.nan, "stated_from": ""}
    usage: Usage = {
        **empty_usage(),
        "prompt_tokens": sum(s.prompt_tokens + len(s.logprobs) for s in scores),
        "model_calls": len(scores),
    }
    return out, usage


async def elicit_under_stated(
    model: VisionLanguageModel,
    messages: Sequence[Message],
    records: Sequence[SampleRecord],
    source: ConfidenceSource,
    elicit: Elicit = "missing",
) -> tuple[list[SampleRecord], Usage]:
    """Where `source` resolves to `stated` on `records` (configured, or detected under ``auto``), `records` with
    the statements `elicit` asks for elicited (`elicit_statements`); else `records` as they are, at no cost."""
    if resolve_source(records, source) != "stated" or not any(needs_statement(r, elicit) for r in records):
        return list(records), empty_usage()
    return await elicit_statements(model, messages, records, elicit)


def statement_counts(records: Sequence[SampleRecord]) -> dict[str, int]:
    """How many samples wrote their statement, had it elicited, or declare none."""
    origins = [r.get("stated_from") or "none" for r in records]
    return {origin: origins.count(origin) for origin in ("written", "elicited", "none")}
