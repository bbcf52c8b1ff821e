"""CA-TTS assembled in a user's own `StateGraph` from `nodes` alone (no `catts_graph`), with the scripted model."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from nodes import (
    FINALIZE,
    CATTSConfig,
    CATTSInput,
    CATTSOutput,
    CATTSState,
    CriticNode,
    GateNode,
    PlannerNode,
    Prepare,
    SampleNode,
    SelfCheckNode,
    VoteNode,
    finalize,
    next_module,
)
from nodes.testing import ScriptedExpert, ScriptedModel

MODULES = ["critic", "self_check"]


def assemble(model: ScriptedModel, expert: ScriptedExpert, config: CATTSConfig) -> Any:
    builder = StateGraph(CATTSState, context_schema=CATTSConfig, input_schema=CATTSInput, output_schema=CATTSOutput)
    builder.add_node("prepare", Prepare(modules=["planner", *MODULES], config=config))
    builder.add_node("planner", PlannerNode(expert, modules=MODULES, config=config.planner))
    builder.add_node("sample", SampleNode(model, sampling=config.sampling, vote=config.vote, routing=config.routing))
    builder.add_node("vote", VoteNode(expert, config=config.vote))
    builder.add_node("gate", GateNode(modules=MODULES, config=config))
    builder.add_node("critic", CriticNode(model, expert, config=config.critic))
    builder.add_node("self_check", SelfCheckNode(model, config=config.self_check, relevance=None))
    builder.add_node(FINALIZE, finalize)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "sample")
    builder.add_edge("prepare", "planner")
    builder.add_edge(["sample", "planner"], "vote")
    builder.add_edge("vote", "gate")
    for module in MODULES:
        builder.add_edge(module, "gate")
    builder.add_conditional_edges("gate", next_module, {m: m for m in [*MODULES, FINALIZE]})
    builder.add_edge(FINALIZE, END)
    return builder.compile()


async def test_a_graph_built_from_nodes_alone_runs_every_module_and_streams_typed_events(image: str) -> None:
    model = ScriptedModel(
        [("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0), ("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)],
        greedy="\\boxed{3}",
        score_fn=lambda ms, a: -1.0,
    )
    expert = ScriptedExpert(voter="2: 0.2\n3: 0.8", planner="critic, self_check")
    config = CATTSConfig.model_validate({"planner": {"enabled": True}, "self_check": {"noise": {"region": "global"}}})
    graph = assemble(model, expert, config)
    inputs = {"question": "How many circles are there?", "images": [image]}
    events: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    async for mode, chunk in graph.astream(inputs, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            out = chunk
    assert out["modules_run"][-3:] == ["voter", "critic", "self_check"] and "planner" in out["modules_run"]
    # the same votes as create_catts_graph's paper policy: V_int {2: .9, 3: .1}, voter, critic's 3, self-check's 2
    assert out["votes"] == pytest.approx({"2": 0.9 + 0.1 + 0.5, "3": 0.1 + 0.4 + 0.5})
    assert out["answer"] == "2" and out["confidence"] == pytest.approx(1.5 / 2.5)
    assert out["fallbacks"] == []
    kinds = [e["event"] for e in events]
    assert kinds[0] == "settings" and kinds[-1] == "final"
    assert {"samples", "votes", "route"} <= set(kinds)
    assert events[-1]["answer"] == "2"


def test_node_options_are_keyword_only() -> None:
    model, expert = ScriptedModel(), ScriptedExpert()
    with pytest.raises(TypeError):
        SampleNode(model, CATTSConfig().sampling)  # type: ignore[misc]
    with pytest.raises(TypeError):
        GateNode(MODULES)  # type: ignore[misc]
    with pytest.raises(TypeError):
        PlannerNode(expert, MODULES)  # type: ignore[misc]
