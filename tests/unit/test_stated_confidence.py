"""Stated step confidence (MMBoundary): writing and reading statements, and the boundary rewards."""

from __future__ import annotations

import math

import pytest

from nodes.stated import PLACEMENTS, Placement, level, strip_statements, with_statements
from nodes.steps import LEVEL_SCORES, LEVELS, split_steps
from trainers.boundary.rewards import (
    internal_agreement_rewards,
    stated_calibration_rewards,
    step_correctness_rewards,
)


@pytest.mark.parametrize(
    ("score", "said"),
    [(0.0, "very low"), (0.19, "very low"), (0.2, "low"), (0.5, "medium"), (0.79, "high"), (0.8, "very high"),
     (1.0, "very high"), (1.5, "very high"), (-1.0, "very low"), (math.nan, "medium")],
)  # fmt: skip
def test_levels_are_fifths_of_the_unit_interval(score: float, said: str) -> None:
    assert level(score) == said
    assert LEVEL_SCORES[LEVELS.index(said)] == pytest.approx(0.1 + 0.2 * LEVELS.index(said))


@pytest.mark.parametrize(
    "text",
    [
        "red circle, blue square. \\boxed{2}",
        "none. \\boxed{0}",
        "<caption>a red circle.</caption> <bbox>[[1,2,3,4]]</bbox> <answer>1</answer>",
        "no answer, at all",
    ],
)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_statements_round_trip(text: str, placement: Placement) -> None:
    steps = split_steps(text, "clauses")
    scores = [0.05 + 0.2 * (k % 5) for k in range(len(steps))]
    stated = with_statements(text, steps, scores, placement=placement)
    assert strip_statements(stated) == text
    read = split_steps(stated, "clauses")
    assert [s.text for s in read] == [s.text for s in steps]
    assert [s.stated for s in read] == [LEVEL_SCORES[LEVELS.index(level(s))] for s in scores]
    assert all(math.isnan(s.stated) for s in steps)


def test_a_step_without_a_statement_reads_nan_and_case_does_not_matter() -> None:
    read = split_steps("red circle, blue square. (Confidence: HIGH) \\boxed{2}", "clauses")
    assert [s.text for s in read] == ["red circle,", "blue square.", "2"]
    assert math.isnan(read[0].stated) and read[1].stated == 0.7 and math.isnan(read[2].stated)


def test_a_summary_shorter_than_the_steps_leaves_the_rest_unstated() -> None:
    read = split_steps("red circle, blue square. \\boxed{2} (step confidence: low, Very High)", "clauses")
    assert [s.text for s in read] == ["red circle,", "blue square.", "2"]
    assert read[0].stated == 0.3 and read[1].stated == 0.9 and math.isnan(read[2].stated)
    with pytest.raises(ValueError, match="2 scores for 3 steps"):
        with_statements("red circle, blue square. \\boxed{2}", read, [0.1, 0.2], placement="end")


STATED = "red circle, (confidence: high) blue square. (confidence: low) \\boxed{1} (confidence: very low)"


@pytest.mark.parametrize(
    ("reference", "answer", "correctness", "calibration"),
    [
        (("red circle",), "1", 2 / 3, 1 - (0.3**2 + 0.3**2 + 0.9**2) / 3),  # blue square is not there
        (("red circle", "blue square"), "2", 2 / 3, 1 - (0.3**2 + 0.7**2 + 0.1**2) / 3),  # the answer is wrong
        (None, "1", 1.0, 1 - 0.9**2),  # no reference steps: only the answer step is judged
    ],
)
def test_step_rewards(reference: tuple[str, ...] | None, answer: str, correctness: float, calibration: float) -> None:
    assert step_correctness_rewards([STATED], [reference], [answer], ["integer"]) == [pytest.approx(correctness)]
    assert stated_calibration_rewards([STATED], [reference], [answer], ["integer"]) == [pytest.approx(calibration)]


def test_step_rewards_of_responses_without_steps_are_zero_and_finite() -> None:
    for text in ("", "(confidence: high)"):
        assert step_correctness_rewards([text], [("x",)], ["1"], ["integer"]) == [0.0]
        assert stated_calibration_rewards([text], [("x",)], ["1"], ["integer"]) == [0.0]
        assert internal_agreement_rewards([text], [[0.5]]) == [0.0]


def test_internal_agreement() -> None:
    assert internal_agreement_rewards([STATED], [[0.7, 0.3, 0.1]]) == [pytest.approx(1.0)]
    assert internal_agreement_rewards([STATED], [[0.9, 0.3, 0.1]]) == [pytest.approx(1 - 0.2 / 3)]
    assert internal_agreement_rewards([STATED], [[0.7]]) == [pytest.approx(1 - 1.0 / 3)]  # missing: a gap of 0.5


def test_stating_nothing_never_pays_better_than_stating() -> None:
    plain, garbled = "red circle. \\boxed{1}", "red circle. \\boxed{1} (step confidence: vry hgh)"
    worst = "red circle. \\boxed{1} (step confidence: very low, very low)"  # both steps right, stated as wrong
    for text in (plain, garbled):
        assert stated_calibration_rewards([text], [("red circle",)], ["1"], ["integer"]) == [0.0]
        assert internal_agreement_rewards([text], [[0.9, 0.9]]) == [0.0]
    assert stated_calibration_rewards([worst], [("red circle",)], ["1"], ["integer"]) == [pytest.approx(1 - 0.9**2)]
    assert internal_agreement_rewards([worst], [[0.9, 0.9]]) == [pytest.approx(0.2)]
