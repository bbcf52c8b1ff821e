"""`routing.skip_futile`: the modules that cannot change the answer are skipped, under every policy, and the answer
is the same as when they run (checked on many scripted draws, critic and self-check picking adversarially)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.protocol import Message
from nodes.testing import ScriptedExpert, ScriptedModel
from nodes.voting import cannot_overturn

ANSWERS = ["1", "2", "3", "4"]


def scripted(seed: int) -> tuple[ScriptedModel, ScriptedExpert]:
    rng = random.Random(seed)
    draws = [(f"\\boxed{{{rng.choice(ANSWERS)}}}", rng.uniform(0.5, 9.0)) for _ in range(rng.choice([1, 2, 4]))]
    reanswer = f"\\boxed{{{rng.choice([*ANSWERS, '5'])}}}"
    scores = {a: rng.uniform(-3.0, 0.0) for a in ANSWERS}

    def score(messages: Sequence[Message], answer: str) -> float:  # the clean and the noised twin differ
        noised = len(str(messages[0].images[0])) % 2
        return scores.get(answer.strip("\\boxed{}"), -1.0) - 0.3 * noised

    model = ScriptedModel(draws, greedy=reanswer, score_fn=score)
    return model, ScriptedExpert(voter=f"{rng.choice(ANSWERS)}: 1", answer=f"\\boxed{{{rng.choice(ANSWERS)}}}")


@pytest.mark.parametrize("policy", ["paper", "adaptive"])
async def test_skipping_futile_modules_never_changes_the_answer(image: str, policy: str) -> None:
    skipped_any = 0
    for seed in range(40):
        answers, runs = [], []
        for skip in (False, True):
            model, expert = scripted(seed)
            n = len(model.samples)
            config = CATTSConfig.model_validate(
                {"sampling": {"n": n}, "routing": {"policy": policy, "skip_futile": skip},
                 "self_check": {"noise": {"region": "global"}}}
            )  # fmt: skip
            out = await create_catts_graph(model, expert=expert, config=config).ainvoke(
                {"question": "How many?", "images": [image]}
            )
            answers.append(out["answer"])
            runs.append(out)
        assert answers[0] == answers[1], f"seed {seed}"
        skipped_any += len(runs[1]["modules_run"]) < len(runs[0]["modules_run"])
    assert skipped_any > 0  # the draws include votes no module can overturn


async def test_one_sample_skips_both_modules_and_says_why(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0)], greedy="\\boxed{3}")
    config = CATTSConfig.model_validate({"sampling": {"n": 1}, "routing": {"skip_futile": True}})
    out = await create_catts_graph(model, expert=ScriptedExpert(), config=config).ainvoke(
        {"question": "How many?", "images": [image]}
    )
    assert out["modules_run"] == ["self_consistency"] and out["answer"] == "2"
    assert "critic, self_check skipped: cannot change the answer" in out["routes"][-1]["reason"]
    assert out["usage"]["expert_calls"] == 0


def test_cannot_overturn_reads_ties_as_the_table_does() -> None:
    assert cannot_overturn({"2": 1.0}, [0.5, 0.5])  # a new answer ties and loses the tie
    assert not cannot_overturn({"3": 0.5, "2": 0.5 + 1e-12}, [1e-12])  # "3" entered first: it wins the tie
    assert cannot_overturn({"2": 0.5 + 1e-12, "3": 0.5}, [1e-12])  # "3" entered last: it loses it
    assert not cannot_overturn({"2": 0.6, "3": 0.4}, [0.15, 0.1])
    assert cannot_overturn({"2": 0.6, "3": 0.4}, [0.1, 0.1])  # a tie: "2" entered first and keeps it
    assert not cannot_overturn({}, [0.5])
