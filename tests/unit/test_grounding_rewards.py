"""The grounding rewards (SATORI-R1's four, our choices marked in the module): pure callables, table-tested."""

from __future__ import annotations

import math

import pytest

from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME
from catts_graph.shapes.world import make_item
from nodes.grounding import BoxFrame, as_box
from trainers.grounding.rewards import (
    BoxReward,
    box_rewards,
    caption_rewards,
    caption_score,
    format_rewards,
    grounding_reward_funcs,
)
from trainers.shapes.roles import grounded_target

GOOD = "<caption>a red circle.</caption> <bbox>[[20,40,60,80]]</bbox> <answer>1</answer>"


@pytest.mark.parametrize(
    ("text", "reward"),
    [
        (GOOD, 1.0),
        ("  " + GOOD + "\n", 1.0),
        ("<caption>none.</caption> <bbox>[]</bbox> <answer>0</answer>", 1.0),  # ours: no evidence is well formed
        ("<caption>a</caption> <bbox>[20,40,60,80]</bbox> <answer>1</answer>", 0.0),  # SATORI needs [[...]]
        ("<caption>a</caption> <bbox>[[20,40,60]]</bbox> <answer>1</answer>", 0.0),
        ("<bbox>[[20,40,60,80]]</bbox> <answer>1</answer>", 0.0),
        ("<caption>a</caption> <bbox>[[20,40,60,80]]</bbox> <answer>1", 0.0),
        (GOOD + " and more", 0.0),
        ("a red circle. \\boxed{1}", 0.0),
    ],
)
def test_format(text: str, reward: float) -> None:
    assert format_rewards([text]) == [reward]


def test_caption_is_bleu_and_rouge_over_two() -> None:
    assert caption_score("A red circle, a blue square.", "a red circle, a blue square.") == pytest.approx(1.0)
    partial = caption_score("a red circle.", "a red circle, a blue square.")
    assert 0.2 < partial < 0.9
    assert caption_score("green", "a red circle.") < 0.1
    assert caption_rewards([GOOD, "\\boxed{1}", GOOD], ["a red circle.", "a red circle.", None]) == [
        pytest.approx(1.0),
        0.0,
        0.0,
    ]


def test_boxes_are_rescaled_from_the_model_frame_before_the_iou() -> None:
    truth = [[(10.0, 20.0, 30.0, 40.0)]]
    assert box_rewards([GOOD], truth, [112], [112], BUNDLED_BOX_FRAME) == [1.0]  # 224 px frame -> 112 px image
    assert box_rewards([GOOD], truth, [112], [112], BoxFrame("original")) == [0.0]  # read in the wrong frame: misses
    assert box_rewards(["\\boxed{1}"], truth, [112], [112], BUNDLED_BOX_FRAME) == [0.0]  # no box list
    assert box_rewards([GOOD], [None], [112], [112], BUNDLED_BOX_FRAME) == [0.0]  # no truth to score against
    empty = "<caption>none.</caption> <bbox>[]</bbox> <answer>0</answer>"
    assert box_rewards([empty, GOOD], [[], []], [112] * 2, [112] * 2, BUNDLED_BOX_FRAME) == [0.0, 0.0]  # no signal


def test_the_shapes_grounded_target_earns_every_reward() -> None:
    items = [make_item(10_000, i) for i in range(40)]
    texts = [grounded_target(item) for item in items]
    columns = {
        "completions": texts,
        "caption": [item.caption for item in items],
        "boxes": [[as_box(b) for b in item.evidence_boxes] for item in items],
        "width": [items[0].size] * len(items),
        "height": [items[0].size] * len(items),
        "answer": [item.answer for item in items],
        "answer_type": [item.answer_type for item in items],
    }
    for func in grounding_reward_funcs(BUNDLED_BOX_FRAME):
        rewards = func(**columns)
        name = getattr(func, "__name__", type(func).__name__)
        assert all(math.isfinite(r) for r in rewards)
        if name == "caption_reward":  # BLEU-4 of a caption under four words stays below 1, even when exact
            long = [r for r, t in zip(rewards, columns["caption"], strict=True) if len(t.split()) >= 4]
            assert long and all(r == pytest.approx(1.0) for r in long)
            assert min(rewards) > 0.5
        elif name == "BoxReward":  # items without evidence carry no box signal
            grounded = [r for r, truth in zip(rewards, columns["boxes"], strict=True) if truth]
            assert grounded and min(grounded) == pytest.approx(1.0)
            assert len(grounded) < len(rewards) and max(rewards) == pytest.approx(1.0)
        else:
            assert min(rewards) == pytest.approx(1.0), name


def test_box_reward_is_a_picklable_callable() -> None:
    import pickle

    reward = pickle.loads(pickle.dumps(BoxReward(BUNDLED_BOX_FRAME)))
    assert reward(completions=[GOOD], boxes=[[(10, 20, 30, 40)]], width=[112], height=[112]) == [1.0]
