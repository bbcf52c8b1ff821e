"""Reasoning steps and their confidence: splitting, token alignment, signals, combination, and the sample node."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from nodes.config import CATTSConfig, SamplingConfig, StepConfig, VoteConfig
from nodes.images import png_data_url
from nodes.protocol import Sample, TokenLogprob
from nodes.sample import SampleNode, sample_record
from nodes.steps import combine, split_steps, step_records, token_certainties, token_indices, weakest_step
from nodes.testing import ScriptedModel
from nodes.vote import sample_weights


@pytest.mark.parametrize(
    ("text", "splitter", "steps"),
    [
        ("red circle, blue square. \\boxed{2}", "sentences", ["red circle, blue square.", "2"]),
        ("red circle, blue square. \\boxed{2}", "clauses", ["red circle,", "blue square.", "2"]),
        ("none. \\boxed{0}", "clauses", ["none.", "0"]),
        (
            "There are 12.5 apples.\nSo the answer is 3.",
            "sentences",
            ["There are 12.5 apples.", "So the answer is", "3"],
        ),
        (
            "<caption>a red circle.</caption> <bbox>[[1,2,3,4]]</bbox> <answer>1</answer>",
            "sentences",
            ["a red circle.", "[[1,2,3,4]]", "1"],
        ),
        ("no answer here, sadly", "clauses", ["no answer here,", "sadly"]),
        ("   ", "sentences", []),
        ("", "clauses", []),
    ],
)
def test_split_steps(text: str, splitter: Any, steps: list[str]) -> None:
    cut = split_steps(text, splitter)
    assert [s.text for s in cut] == steps
    assert all(text[s.start : s.end] == s.text for s in cut)  # spans point into the response


def test_token_indices_cover_the_tokens_overlapping_a_step() -> None:
    tokens = ["red", " circle", ",", " blue", " square", ".", " \\boxed{", "2", "}"]
    steps = split_steps("".join(tokens), "clauses")
    assert [token_indices(tokens, s) for s in steps] == [[0, 1, 2], [3, 4, 5], [7]]


def test_token_certainty_is_one_minus_normalised_top_k_entropy() -> None:
    uniform, peaked, single = [math.log(0.25)] * 4, [0.0, -30.0, -30.0], [-0.1]
    values = token_certainties([uniform, peaked, single, [0.0, math.nan]])
    assert values[0] == pytest.approx(0.0, abs=1e-9)
    assert values[1] == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(values[2]) and math.isnan(values[3])


def test_token_certainty_of_a_servers_equal_rows_matches_the_row_by_row_formula() -> None:
    rng = np.random.default_rng(0)
    rows = np.sort(np.log(rng.dirichlet(np.ones(20), size=64)), axis=1)[:, ::-1].tolist()  # (64, 20) top-k rows
    rows[5][3], rows[9][0] = math.nan, -math.inf
    values = token_certainties(rows)
    ragged = token_certainties([*rows, [0.0, -1.0]])  # one shorter row: every row is taken on its own
    assert math.isnan(values[5]) and math.isnan(values[9]) and math.isnan(ragged[5])
    kept = [i for i in range(64) if i not in (5, 9)]
    assert np.allclose([values[i] for i in kept], [ragged[i] for i in kept], rtol=0, atol=1e-12)


def test_combine_weighted_mean_and_fitted_logistic() -> None:
    signals = {"likelihood": 0.9, "certainty": 0.3, "visual": math.nan}
    assert combine(signals, {"likelihood": 1.0, "certainty": 1.0, "visual": 1.0}) == pytest.approx(0.6)
    assert combine(signals, {"likelihood": 3.0, "certainty": 1.0}) == pytest.approx(0.75)
    assert combine(signals, {"likelihood": 0.0, "certainty": 1.0}) == pytest.approx(0.3)
    assert math.isnan(combine({"visual": math.nan}, {"visual": 1.0}))
    fitted = combine(signals, {"likelihood": 2.0, "certainty": 0.0, "visual": 4.0}, bias=-1.0)
    assert fitted == pytest.approx(1 / (1 + math.exp(-(-1.0 + 1.8 + 4.0 * 0.5))))  # NaN visual counts as 0.5


def _sample(pieces: Sequence[tuple[str, float]]) -> Sample:
    """A sample whose tokens are `pieces` (text, log-prob), each with top-2 log-probs (log-prob, -5)."""
    tokens = tuple(TokenLogprob(t, lp, (lp, -5.0)) for t, lp in pieces)
    return Sample("".join(t for t, _ in pieces), tokens, "stop", 10)


def test_the_unsure_step_is_the_weakest() -> None:
    sample = _sample([("red", -0.01), (" circle,", -0.01), (" blue", -2.0), (" square.", -1.5), (" \\boxed{", -0.01),
                      ("2", -0.05), ("}", 0.0)])  # fmt: skip
    record = sample_record(sample, answer_type="integer", choices=None, window=8, steps=StepConfig(splitter="clauses"))
    steps = record["steps"]
    assert [s["text"] for s in steps] == ["red circle,", "blue square.", "2"]
    assert steps[1]["likelihood"] == pytest.approx(math.exp(-1.75))
    assert all(0 <= s["certainty"] <= 1 and math.isnan(s["visual"]) for s in steps)
    assert record["weakest_step"] == steps[1]["confidence"] == min(s["confidence"] for s in steps)
    assert record["answer"] == "2"


def test_visual_signal_enters_the_combination() -> None:
    sample = _sample([("red", -0.01), (" circle.", -0.01), (" \\boxed{", 0.0), ("1", -0.01), ("}", 0.0)])
    steps = split_steps(sample.text)
    tokens = [t.token for t in sample.tokens]
    logprobs, top = [t.logprob for t in sample.tokens], [t.top_logprobs for t in sample.tokens]
    seen = step_records(tokens, logprobs, top, steps, visual=[0.9, 0.9], weights={"likelihood": 1, "visual": 1})
    unseen = step_records(tokens, logprobs, top, steps, visual=[0.1, 0.9], weights={"likelihood": 1, "visual": 1})
    assert unseen[0]["confidence"] < seen[0]["confidence"]
    assert weakest_step(unseen) == unseen[0]["confidence"] and math.isnan(weakest_step([]))


def test_step_config_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        StepConfig(weights={"clip": 1.0})
    with pytest.raises(ValueError, match="set bias"):
        StepConfig(weights={"likelihood": -1.0})
    assert StepConfig(weights={"likelihood": -1.0}, bias=0.2).bias == 0.2
    assert CATTSConfig().steps.splitter == "sentences"


class _Agreement:
    """An image-text model that agrees with texts naming red things, not with blue ones, and is unsure otherwise."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def agreement(self, image: Image.Image, texts: Sequence[str]) -> list[float]:
        self.calls.append(list(texts))
        return [0.9 if "red" in t else 0.1 if "blue" in t else 0.5 for t in texts]


def test_sample_node_records_steps_with_visual_agreement_and_weakest_step_votes() -> None:
    from langgraph.runtime import Runtime

    image = png_data_url(Image.new("RGB", (8, 8), "white"))
    model = ScriptedModel([("red circle, red square. \\boxed{2}", 5.0), ("blue circle. \\boxed{1}", 5.0)])
    judge = _Agreement()
    node = SampleNode(model, sampling=SamplingConfig(n=2), steps=StepConfig(splitter="clauses"), image_text=judge)
    state: Any = {"question": "How many red shapes are there?", "images": [image], "answer_type": "integer"}
    out = asyncio.run(node(state, Runtime(context=None)))
    first, second = out["samples"]
    assert [s["text"] for s in first["steps"]] == ["red circle,", "red square.", "2"]
    assert [s["visual"] for s in first["steps"]][:2] == [0.9, 0.9]
    assert math.isnan(first["steps"][2]["visual"])  # a bare answer is not judged against the image
    assert judge.calls == [["red circle,", "red square.", "2", "blue circle.", "1"]]  # one call for every step
    assert second["weakest_step"] < first["weakest_step"]
    weights = sample_weights(out["samples"], VoteConfig(weighting="weakest_step").weighting)
    assert weights == [first["weakest_step"], second["weakest_step"]]
