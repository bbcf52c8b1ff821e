"""CDRL rewards, table-driven against hand-computed values."""

from __future__ import annotations

import math
import pickle

import pytest

from trainers.cdrl.rewards import (
    CalibrationReward,
    accuracy_rewards,
    calibration_rewards,
    cdrl_rewards,
    format_rewards,
    group_members,
    normalised_confidence,
    perception_rewards,
)


@pytest.mark.parametrize(
    ("completion", "gold", "answer_type", "reward"),
    [
        ("red circle. \\boxed{2}", "2", "integer", 1.0),
        ("\\boxed{2.0}", "2", "integer", 1.0),
        ("\\boxed{3}", "2", "integer", 0.0),
        ("no box at all", "2", "integer", 0.0),
        ("\\boxed{Blue}", "blue", "text", 1.0),
        ("\\boxed{}", "2", "integer", 0.0),
    ],
)
def test_accuracy(completion: str, gold: str, answer_type: str, reward: float) -> None:
    assert accuracy_rewards([completion], [gold], [answer_type]) == [reward]  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("completion", "gold", "answer_type", "choices", "reward"),
    [
        ("\\boxed{dog}", "B", "choice", ["cat", "dog"], 1.0),  # an option's text, graded as its letter
        ("\\boxed{Dog.}", "B", None, ["cat", "dog"], 1.0),  # the type follows from the options, as in the graph
        ("\\boxed{(b)}", "B", "choice", ["cat", "dog"], 1.0),
        ("\\boxed{cat}", "B", "choice", ["cat", "dog"], 0.0),
        ("\\boxed{C}", "C", "choice", ["cat", "dog"], 0.0),  # no option C
        ("\\boxed{B}", "B", "choice", None, 1.0),
        ("\\boxed{2}", "2", "integer", None, 1.0),
    ],
)
def test_accuracy_grades_options_as_the_graph_does(
    completion: str, gold: str, answer_type: str | None, choices: list[str] | None, reward: float
) -> None:
    from catts_graph.benchmarks import BenchmarkItem, matches
    from nodes.answers import extract_answer

    assert accuracy_rewards([completion], [gold], [answer_type], [choices]) == [reward]  # type: ignore[list-item]
    item = BenchmarkItem("x", "q", "img", gold, answer_type, tuple(choices) if choices else None)  # type: ignore[arg-type]
    assert matches(extract_answer(completion, answer_type=item.answer_type, choices=item.choices), item) == bool(
        reward
    )


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        ("red circle. \\boxed{2}", 1.0),
        ("\\boxed{2}  \n", 1.0),
        ("\\boxed{2} and more text", 0.0),
        ("\\boxed{2} \\boxed{3}", 0.0),
        ("\\boxed{}", 0.0),
        ("2", 0.0),
    ],
)
def test_format(completion: str, reward: float) -> None:
    assert format_rewards([completion]) == [reward]


def test_perception_is_alpha_tanh_beta_of_the_drop() -> None:
    rewards = perception_rewards([5.0, 5.0, 5.0, math.nan], [3.0, 5.0, 6.0, 1.0], alpha=0.5, beta=1.0)
    assert rewards == pytest.approx([0.5 * math.tanh(2.0), 0.0, 0.5 * math.tanh(-1.0), 0.0])
    assert perception_rewards([2.0], [1.0], alpha=1.0, beta=3.0) == pytest.approx([math.tanh(3.0)])


@pytest.mark.parametrize(
    ("confidences", "how", "expected"),
    [
        ([1.0, 2.0, 3.0], "group", [0.0, 0.5, 1.0]),
        ([4.0, 4.0], "group", [0.5, 0.5]),
        ([1.0, math.nan, 3.0], "group", [0.0, 0.0, 1.0]),
        ([math.nan, math.nan], "group", [0.5, 0.5]),
        ([0.0, 2.0], "sigmoid", [1 / (1 + math.e), 1 / (1 + math.exp(-1))]),
    ],
)
def test_normalised_confidence(confidences: list[float], how: str, expected: list[float]) -> None:
    assert normalised_confidence(confidences, how) == pytest.approx(expected)  # type: ignore[arg-type]


def test_calibration_rewards_confident_right_and_punishes_confident_wrong() -> None:
    # accuracy (1, 1, 0, 0), confidence (1, 3, 1, 3) -> Cnorm (0, 1, 0, 1) -> (0, 1, -0, -1)
    assert calibration_rewards([1, 1, 0, 0], [1.0, 3.0, 1.0, 3.0]) == pytest.approx([0.0, 1.0, 0.0, -1.0])


def test_group_members_reads_whole_groups_from_a_gathered_batch() -> None:
    members = group_members(["a", "a", "b", "b"], [1.0, 2.0, 3.0, 4.0], 2)
    assert members == [([1.0, 2.0], 0), ([1.0, 2.0], 1), ([3.0, 4.0], 0), ([3.0, 4.0], 1)]
    with pytest.raises(ValueError, match="mix prompts"):
        group_members(["a", "b", "a", "b"], [1.0, 2.0, 3.0, 4.0], 2)
    with pytest.raises(ValueError, match="whole groups"):
        group_members(["a", "a", "a"], [1.0, 2.0, 3.0], 2)


def test_calibration_reward_is_the_same_on_one_process_and_on_two_halves_of_a_group() -> None:
    """Two processes each holding half of a G = 4 group (TRL's layout with batch 2 per device) see the whole group."""
    texts = ["\\boxed{2}", "\\boxed{3}", "\\boxed{2}", "\\boxed{3}"]
    confidence = [1.0, 2.0, 3.0, 5.0]
    members = group_members(["p"] * 4, confidence, 4)
    reward = CalibrationReward("group")

    def rewards(rows: slice) -> list[float]:
        groups, positions = zip(*members[rows], strict=True)
        n = len(texts[rows])
        return reward(texts[rows], ["2"] * n, ["integer"] * n, list(groups), list(positions))

    whole = rewards(slice(0, 4))
    assert whole == pytest.approx([0.0, -0.25, 0.5, -1.0])  # Cnorm (0, 1/4, 1/2, 1), signs by correctness
    assert rewards(slice(0, 2)) + rewards(slice(2, 4)) == whole


def test_cdrl_rewards_sums_the_components_and_pickles() -> None:
    out = cdrl_rewards(
        ["x. \\boxed{2}", "x. \\boxed{3}"], ["2", "2"], ["integer", "integer"], [4.0, 6.0], [2.0, 6.0], alpha=0.5
    )
    assert out["accuracy"] == [1.0, 0.0] and out["format"] == [1.0, 1.0]
    assert out["perception"] == pytest.approx([0.5 * math.tanh(2.0), 0.0])
    assert out["calibration"] == pytest.approx([0.0, -1.0])
    assert out["total"] == pytest.approx([2.0 + 0.5 * math.tanh(2.0), 0.0])
    assert pickle.loads(pickle.dumps(cdrl_rewards)) is cdrl_rewards
