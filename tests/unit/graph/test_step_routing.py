"""Step confidence in the graph: samples carry steps, the adaptive gate can require the leader's weakest step, the
Critic can be shown it, and a run's context can change how steps are cut."""

from __future__ import annotations

from typing import Any

import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.config import Gate
from nodes.testing import ScriptedExpert, ScriptedModel

RATIONALE = "red circle, blue square. \\boxed{2}"


async def run(model: ScriptedModel, expert: Any, cfg: CATTSConfig, image: str, **run: Any) -> dict[str, Any]:
    graph = create_catts_graph(model, expert=expert, config=cfg)
    return dict(await graph.ainvoke({"question": "How many shapes are there?", "images": [image]}, **run))


def test_the_gate_reports_every_threshold_it_checks() -> None:
    assert Gate(min_share=0.5).clears(0.6, 1.0, 0.2) == (True, "share 0.600 >= 0.5")
    ok, why = Gate(min_share=0.5, min_weakest_step=0.3).clears(0.6, 1.0, 0.2)
    assert not ok and why == "share 0.600 >= 0.5, weakest step 0.200 < 0.3"
    assert not Gate(min_share=0.5, min_weakest_step=0.3).clears(0.6, 1.0)[0]  # unknown (NaN) does not clear


@pytest.mark.parametrize(("threshold", "skipped"), [(None, True), (0.5, True), (0.99999, False)])
async def test_the_adaptive_gate_can_require_the_leaders_weakest_step(
    image: str, threshold: float | None, skipped: bool
) -> None:
    model = ScriptedModel([(RATIONALE, 5.0)])  # every token sure: each step's confidence is just below 1
    gate = {"min_share": 0.75, "min_weakest_step": threshold}
    cfg = CATTSConfig.model_validate(
        {"vote": {"voter": False}, "routing": {"policy": "adaptive", "critic": gate, "self_check": gate}}
    )
    out = await run(model, ScriptedExpert(), cfg, image)
    assert ({"critic", "self_check"} & set(out["modules_run"])) == (set() if skipped else {"critic", "self_check"})
    route = next(r for r in out["routes"] if r["after"] != "sample")
    assert ("weakest step" in route["reason"]) == (threshold is not None)
    assert all(s["steps"] and 0 < s["weakest_step"] < 1 for s in out["samples"])


@pytest.mark.parametrize("show", [True, False])
async def test_the_critic_can_be_shown_the_weakest_step(image: str, show: bool) -> None:
    expert = ScriptedExpert()
    cfg = CATTSConfig.model_validate(
        {"vote": {"voter": False}, "self_check": {"enabled": False}, "critic": {"show_weakest_step": show},
         "steps": {"splitter": "clauses"}}
    )  # fmt: skip
    out = await run(ScriptedModel([(RATIONALE, 5.0)]), expert, cfg, image)
    steps = out["samples"][0]["steps"]
    weakest = min(steps, key=lambda s: s["confidence"])["text"]
    critic_request = next(c for c in expert.calls if expert.role_of(c) == "critic")[-1].text
    assert ("Least certain step" in critic_request) == show
    assert out["critique"]["weakest_step"] == (weakest if show else None)
    if show:
        assert f'"{weakest}"' in critic_request


async def test_a_runs_context_changes_how_steps_are_cut(image: str) -> None:
    cfg = CATTSConfig.model_validate({"vote": {"voter": False}, "critic": {"enabled": False}})
    model = ScriptedModel([(RATIONALE, 5.0)])
    default = await run(model, ScriptedExpert(), cfg, image)
    clauses = await run(model, ScriptedExpert(), cfg, image, context={"steps": {"splitter": "clauses"}})
    assert [s["text"] for s in default["samples"][0]["steps"]] == ["red circle, blue square.", "2"]
    assert [s["text"] for s in clauses["samples"][0]["steps"]] == ["red circle,", "blue square.", "2"]
