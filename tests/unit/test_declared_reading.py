"""Reading a declared answer confidence as its expected value (the top log-probs at the digit's token), the
client keeping each position's top tokens, and eliciting a statement a sample did not write (`nodes.elicit`)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from catts_graph.serving.vllm_client import VLLMClient, samples_from_response
from catts_graph.serving.wire import ChatCompletionResponse
from nodes.elicit import elicit_statements, elicitation_text, elicited_confidence
from nodes.protocol import AnswerScore, Message, Sample, TokenLogprob
from nodes.sample import sample_record
from nodes.stated import declared_answer_confidence, digit_expectation, statement_position
from nodes.testing import ScriptedModel

TOKENS = ["two", ". \\boxed{", "2", "}", " (answer confidence:", " ", "7", "/10)"]
TEXT = "".join(TOKENS)


def stating(top: tuple[tuple[str, float], ...] = (("7", -0.1), ("8", -2.4), ("/", -5.0))) -> Sample:
    """A sample that writes 7/10 where its top tokens put most of the mass on 7 and some on 8."""
    tokens = [TokenLogprob(t, -0.5, (-0.5,), (t,)) for t in TOKENS]
    tokens[6] = TokenLogprob("7", top[0][1], tuple(lp for _, lp in top), tuple(t for t, _ in top))
    return Sample(TEXT, tuple(tokens), "stop", 30)


def test_the_statement_reads_as_its_expected_value_over_the_digits() -> None:
    assert statement_position(TOKENS, TEXT) == 6
    expected = (math.exp(-0.1) * 0.75 + math.exp(-2.4) * 0.85) / (math.exp(-0.1) + math.exp(-2.4))
    assert declared_answer_confidence(TEXT, stating().tokens) == pytest.approx(expected)
    assert declared_answer_confidence(TEXT, stating().tokens) != 0.75  # not the written digit


def test_the_statement_is_found_when_the_tokens_end_with_an_end_of_turn_the_text_leaves_out() -> None:
    sample = stating()
    ended = (*sample.tokens, TokenLogprob("<|im_end|>", -0.01, (-0.01,), ("<|im_end|>",)))
    assert declared_answer_confidence(TEXT, ended) == pytest.approx(declared_answer_confidence(TEXT, sample.tokens))
    assert declared_answer_confidence(TEXT, ended) != 0.75  # read at the digit, not the written fallback


def test_the_written_digit_is_the_fallback_where_the_top_tokens_are_not_known() -> None:
    plain = tuple(TokenLogprob(t, -0.5, (-0.5,)) for t in TOKENS)  # values only, no tokens
    assert declared_answer_confidence(TEXT, plain) == 0.75
    assert declared_answer_confidence(TEXT, ()) == 0.75
    glued = (TokenLogprob("two. \\boxed{2}", -0.1, (-0.1,), ("x",)), TokenLogprob(" (answer confidence: 7/10)", -0.1))
    assert declared_answer_confidence(TEXT, glued) == 0.75  # the digit shares its token
    no_digit = stating(top=(("7", -0.1),))
    assert declared_answer_confidence(TEXT, no_digit.tokens) == pytest.approx(0.75)
    assert math.isnan(declared_answer_confidence("\\boxed{2}", stating().tokens))


def test_digit_expectation_renormalises_over_the_digits_only() -> None:
    assert digit_expectation([("9", -0.01), ("the", 0.0), ("0", -50.0)]) == pytest.approx(0.95)
    assert digit_expectation([("3", math.log(0.2)), ("5", math.log(0.2))]) == pytest.approx(0.45)
    assert math.isnan(digit_expectation([("the", -0.1), (" 7", -0.2)]))  # digit tokens only: '0'..'9'


def test_the_graph_record_carries_the_expected_statement_and_where_it_came_from() -> None:
    record = sample_record(stating(), answer_type="integer", choices=None, window=4)
    assert record["stated_confidence"] == pytest.approx(declared_answer_confidence(TEXT, stating().tokens))
    assert record["stated_from"] == "written"
    plain = sample_record(Sample("\\boxed{2}", ()), answer_type="integer", choices=None, window=4)
    assert math.isnan(plain["stated_confidence"]) and plain["stated_from"] == ""


def test_the_client_keeps_each_steps_top_tokens_in_order() -> None:
    top = [{"token": "8", "logprob": -2.0}, {"token": "7", "logprob": -0.2}, {"token": "x", "logprob": -9.0}]
    raw = {
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "7"}, "finish_reason": "stop",
                     "logprobs": {"content": [{"token": "7", "logprob": -0.2, "top_logprobs": top}]}}],
    }  # fmt: skip
    [sample] = samples_from_response(ChatCompletionResponse.model_validate(raw), k=2)
    assert sample.tokens[0].top_logprobs == (-0.2, -2.0)
    assert sample.tokens[0].top_tokens == ("7", "8")


def test_the_client_scores_with_each_positions_top_tokens() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/tokenize":
            return httpx.Response(200, json={"count": 2, "tokens": [1, 2]})
        top = {"5": (-3.0, "5"), "9": (-0.1, "8"), "8": (-2.5, "7"), "4": (-7.0, "x")}  # id: (log-prob, token)
        entries = {i: {"logprob": lp, "decoded_token": t} for i, (lp, t) in top.items()}
        first = {"3": {"logprob": -0.3, "decoded_token": ": "}}
        return httpx.Response(
            200,
            json={"model": "m", "choices": [{"index": 0, "message": {"content": ""}}],
                  "prompt_logprobs": [None, None, first, entries], "prompt_token_ids": [1, 2, 3, 5]},
        )  # fmt: skip

    async def score() -> AnswerScore:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = VLLMClient("http://127.0.0.1:9", "m", http_client=http, max_retries=0)
        return await client.score([Message.user("q")], ": 5", top_logprobs=3)

    scored = asyncio.run(score())
    assert scored.tokens == (": ", "5") and scored.logprobs == (-0.3, -3.0)
    assert scored.top_tokens[-1] == ("8", "7", "5") and scored.top_logprobs[-1] == (-0.1, -2.5, -3.0)
    assert elicited_confidence(scored) == pytest.approx(digit_expectation([("8", -0.1), ("7", -2.5), ("5", -3.0)]))


def test_elicitation_scores_the_stripped_response_with_the_statement_opened() -> None:
    garbled = "\\boxed{2} (answer confidence: 3/"
    assert elicitation_text(garbled) == garbled + " (answer confidence: 5"
    assert elicitation_text("\\boxed{2} (answer confidence: 3/10)") == "\\boxed{2} (answer confidence: 5"
    assert elicitation_text("") == "(answer confidence: 5"


def test_an_elicited_statement_is_read_at_the_placeholder_not_the_placeholder_itself() -> None:
    score = AnswerScore(("x", "5"), (-1.0, -6.0), 30, ((-1.0,), (-0.05, -6.0)), (("x",), ("9", "5")))
    assert elicited_confidence(score) == pytest.approx(digit_expectation([("9", -0.05), ("5", -6.0)]))
    assert elicited_confidence(score) > 0.9
    assert math.isnan(elicited_confidence(AnswerScore(("x", "5"), (-1.0, -6.0))))  # no top tokens
    spaced = AnswerScore(("x", " 5"), (-1.0, -6.0), 30, ((-1.0,), (-0.05, -3.0)), (("x",), (" 9", "2")))
    assert elicited_confidence(spaced) == pytest.approx(0.95)  # " 9" read as 9; "2" is spelt otherwise
    glued = AnswerScore(("x", ":5"), (-1.0, -6.0), 30, ((-1.0,), (-0.05,)), (("x",), (":9",)))
    assert math.isnan(elicited_confidence(glued))  # the placeholder shares its token with text


def test_only_the_samples_without_a_statement_are_elicited_and_each_request_counts() -> None:
    model = ScriptedModel(digits=[("2", -0.1), ("the", -1.0), ("3", -2.3)])
    records = [
        sample_record(stating(), answer_type="integer", choices=None, window=4),
        sample_record(Sample("\\boxed{3} (answer conf", ()), answer_type="integer", choices=None, window=4),
    ]
    out, usage = asyncio.run(elicit_statements(model, [Message.user("q")], records))
    assert [call.answer for call in model.calls] == ["\\boxed{3} (answer conf (answer confidence: 5"]
    assert model.calls[0].top_logprobs == 20
    assert out[0] == records[0]
    assert out[1]["stated_from"] == "elicited"
    assert out[1]["stated_confidence"] == pytest.approx(digit_expectation([("2", -0.1), ("3", -2.3)]))
    assert usage["model_calls"] == 1 and usage["prompt_tokens"] == 30 + 2  # the prompt and the two scored tokens


def test_a_statement_that_cannot_be_elicited_stays_undeclared() -> None:
    model = ScriptedModel(digits=[("the", -0.1)])
    records = [sample_record(Sample("\\boxed{3}", ()), answer_type="integer", choices=None, window=4)]
    out, usage = asyncio.run(elicit_statements(model, [Message.user("q")], records))
    assert math.isnan(out[0]["stated_confidence"]) and out[0]["stated_from"] == ""
    assert usage["model_calls"] == 1


def test_under_all_every_statement_not_yet_elicited_is_asked_for() -> None:
    model = ScriptedModel(digits=[("2", -0.1), ("3", -2.3)])
    records = [
        sample_record(stating(), answer_type="integer", choices=None, window=4),
        sample_record(Sample("\\boxed{3} ", ()), answer_type="integer", choices=None, window=4),
    ]
    already = {**records[1], "stated_confidence": 0.55, "stated_from": "elicited"}
    out, usage = asyncio.run(elicit_statements(model, [Message.user("q")], [*records, already], "all"))
    opened = ["two. \\boxed{2} (answer confidence: 5", "\\boxed{3} (answer confidence: 5"]
    assert [call.answer for call in model.calls] == opened  # the written statement is asked for again
    assert [r["stated_from"] for r in out] == ["elicited"] * 3 and out[2] == already
    assert out[0]["stated_confidence"] == pytest.approx(digit_expectation([("2", -0.1), ("3", -2.3)]))
    assert usage["model_calls"] == 2
    unreadable = ScriptedModel(digits=[("the", -0.1)])  # a written statement is not kept when none can be elicited
    [left], _ = asyncio.run(elicit_statements(unreadable, [Message.user("q")], records[:1], "all"))
    assert math.isnan(left["stated_confidence"]) and left["stated_from"] == ""
