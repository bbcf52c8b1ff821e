"""The self-check's scoring: what each form teacher-forces, which tokens it reads, the cut-off, non-finite scores."""

from __future__ import annotations

import math

import pytest

from nodes.confidence import answer_span, span_log_prob
from nodes.protocol import AnswerScore
from nodes.self_check import candidate_log_probs, contrastive_pick, scored_reply

RESPONSE = "two red circles. \\boxed{2}"


@pytest.mark.parametrize(
    ("scored", "reply", "span_text"),
    [
        ("response", RESPONSE, None),
        ("answer_given_rationale", RESPONSE, "2"),
        ("answer", "\\boxed{2}", "2"),
    ],
)
def test_each_form_scores_what_it_says(scored: str, reply: str, span_text: str | None) -> None:
    text, span = scored_reply(RESPONSE, "2", scored)  # type: ignore[arg-type]
    assert text == reply
    assert (text[span[0] : span[1]] if span else None) == span_text


def test_the_answer_form_keeps_the_answer_as_the_model_wrote_it() -> None:
    assert scored_reply("The answer is dog.", "B", "answer")[0] == "\\boxed{dog}"
    assert scored_reply("no answer here", "B", "answer")[0] == "\\boxed{B}"
    assert answer_span("no answer here") is None
    assert scored_reply("no answer here", "B", "answer_given_rationale")[1] == (0, 14)  # whole response


def test_the_span_reads_only_the_answer_tokens() -> None:
    score = AnswerScore(("two", " circles.", " \\boxed{", "1", "2", "}"), (-0.5, -0.5, -0.1, -1.0, -2.0, -0.1))
    text = "".join(score.tokens)
    span = answer_span(text)
    assert span is not None and text[span[0] : span[1]] == "12"
    assert span_log_prob(score.tokens, score.logprobs, span) == pytest.approx(-3.0)
    assert candidate_log_probs(score, span) == (pytest.approx(-3.0), pytest.approx(-3.0))
    assert candidate_log_probs(score, None) == (pytest.approx(-4.2 / 6), pytest.approx(-4.2))  # mean, total
    assert math.isnan(span_log_prob(score.tokens, score.logprobs, (100, 101)))


def test_the_cut_off_binds_on_sequence_probabilities() -> None:
    # Per-token means are close (a loose cut-off would keep both); the sequence probability of "3" is < 0.1 x "2".
    clean, noised = {"2": -0.2, "3": -0.3}, {"2": -0.2, "3": -5.0}
    pick, _, plausible = contrastive_pick(clean, noised, alpha=0.5, beta=0.1, sequence={"2": -2.0, "3": -6.0})
    assert plausible == {"2"} and pick == "2"
    pick, _, plausible = contrastive_pick(clean, noised, alpha=0.5, beta=0.1)
    assert plausible == {"2", "3"} and pick == "3"  # without the sequence values "3" would win on contrast


@pytest.mark.parametrize("bad", [math.nan, -math.inf, math.inf])
def test_non_finite_scores_are_never_picked(bad: float) -> None:
    pick, scores, plausible = contrastive_pick({"2": -1.0, "3": -0.5}, {"2": -2.0, "3": bad}, alpha=0.5, beta=0.1)
    assert pick == "2" and "3" not in scores and plausible == {"2"}
    assert contrastive_pick({"2": bad}, {"2": -1.0}, alpha=0.5, beta=0.1) == (None, {}, set())
