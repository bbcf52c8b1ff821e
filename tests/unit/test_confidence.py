"""Confidence maths against hand-computed values; edge cases named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nodes.confidence import (
    answer_probability,
    bottom_percent_confidence,
    group_confidences,
    lowest_group_confidence,
    mean_confidence,
    probability_confidence,
    response_confidence,
    tail_confidence,
    token_confidence,
    token_confidences,
)

nan = math.nan


@pytest.mark.parametrize(
    ("top_logprobs", "expected"),
    [
        ([-0.01, -5.0, -7.0], 12.01 / 3),  # peaked distribution: large confidence
        ([-1.0986, -1.0986, -1.0986], 1.0986),  # uniform over 3: small confidence
        ([0.0], 0.0),  # one candidate holding all mass
        ([-2.5], 2.5),  # k = 1
        ([], nan),  # empty log-probs
        ([-1.0, nan], nan),  # NaN among the log-probs
    ],
)
def test_token_confidence(top_logprobs: list[float], expected: float) -> None:
    got = token_confidence(top_logprobs)
    assert got == pytest.approx(expected, nan_ok=True)


def test_peaked_is_more_confident_than_flat() -> None:
    assert token_confidence([-0.001, -8.0, -9.0]) > token_confidence([-1.0, -1.2, -1.3])


def test_token_confidences_ragged_rows() -> None:
    c = token_confidences([[-1.0, -3.0], [-2.0], []])
    assert c[0] == pytest.approx(2.0)
    assert c[1] == pytest.approx(2.0)
    assert math.isnan(c[2])


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[-1.0, -3.0], [-2.0, -4.0]], 2.5),  # mean of 2 and 3
        ([[-1.0, -3.0]], 2.0),  # one token
        ([[-1.0, -3.0], []], 2.0),  # a token without log-probs is skipped
        ([], nan),  # no tokens at all
        ([[], []], nan),  # no usable token
    ],
)
def test_response_confidence(rows: list[list[float]], expected: float) -> None:
    assert response_confidence(rows) == pytest.approx(expected, nan_ok=True)


def test_group_confidences_sliding_windows() -> None:
    c = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(group_confidences(c, window=2), [1.5, 2.5, 3.5])
    np.testing.assert_allclose(group_confidences(c, window=4), [2.5])
    np.testing.assert_allclose(group_confidences(c, window=10), [2.5])  # shorter than the window: one mean
    assert group_confidences(np.array([]), window=2).size == 0
    np.testing.assert_allclose(group_confidences(np.array([1.0, nan, 3.0]), window=2), [2.0])  # NaN skipped


def test_tail_lowest_and_bottom_percent() -> None:
    c = np.array([5.0, 5.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    assert tail_confidence(c, tail_tokens=2) == 5.0
    assert tail_confidence(c, tail_tokens=100) == pytest.approx(c.mean())
    assert lowest_group_confidence(c, window=2) == 1.0
    # 11 windows of 2: [5,3,1,3,5,...]; lowest 10% -> ceil(1.1) = 2 windows: mean(1, 3) = 2
    assert bottom_percent_confidence(c, window=2, percent=10) == pytest.approx(2.0)
    assert bottom_percent_confidence(c, window=2, percent=100) == pytest.approx(group_confidences(c, 2).mean())


def test_ties_and_empty_inputs() -> None:
    c = np.array([3.0, 3.0, 3.0])
    assert lowest_group_confidence(c, window=2) == 3.0
    assert bottom_percent_confidence(c, window=2) == 3.0
    assert math.isnan(tail_confidence(np.array([])))
    assert math.isnan(lowest_group_confidence(np.array([])))
    assert math.isnan(bottom_percent_confidence(np.array([nan])))
    assert math.isnan(mean_confidence(np.array([nan, nan])))


@pytest.mark.parametrize("bad", [0, -1])
def test_invalid_windows_raise(bad: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        group_confidences(np.array([1.0]), window=bad)
    with pytest.raises(ValueError, match="must be >= 1"):
        tail_confidence(np.array([1.0]), tail_tokens=bad)


def test_bottom_percent_range() -> None:
    with pytest.raises(ValueError, match="percent"):
        bottom_percent_confidence(np.array([1.0]), percent=0)


@pytest.mark.parametrize(
    ("logprobs", "expected"),
    [
        ([0.0, 0.0], 1.0),
        ([math.log(0.5), math.log(0.5)], 0.5),
        ([math.log(0.25), 0.0], 0.5),  # geometric mean of 0.25 and 1
        ([], nan),
        ([nan, 0.0], 1.0),  # NaN tokens skipped
    ],
)
def test_probability_confidence(logprobs: list[float], expected: float) -> None:
    assert probability_confidence(logprobs) == pytest.approx(expected, nan_ok=True)


def test_answer_probability_reads_the_final_answers_tokens_given_the_rationale() -> None:
    tokens = ["two", " circles.", " \\boxed{", "1", "2", "}"]
    logprobs = [math.log(0.5), -0.1, -0.2, math.log(0.8), math.log(0.5), -0.3]
    assert answer_probability(tokens, logprobs) == pytest.approx(0.4)  # P("12" | "two circles. \\boxed{")
    assert math.isnan(answer_probability(["no", " answer"], [-0.1, -0.1]))
