"""`create_catts_graph` takes what LangGraph's prebuilt factories take (store, interrupts, debug, name), and the
compiled graph works with LangGraph 1.x's typed surfaces: ``stream(version="v2")`` parts and ``invoke(version="v2")``'s
`GraphOutput`, custom events included."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, GraphOutput

from catts_graph.graph import create_catts_graph
from nodes.testing import ScriptedExpert, ScriptedModel

ROOT = Path(__file__).resolve().parents[3]
INPUTS = {"question": "How many circles?"}


def model() -> ScriptedModel:
    return ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)])


async def test_interrupt_before_pauses_the_run_and_the_same_thread_resumes_it(image: str) -> None:
    graph = create_catts_graph(
        model(), expert=ScriptedExpert(), checkpointer=InMemorySaver(), interrupt_before=["critic"]
    )
    thread: Any = {"configurable": {"thread_id": "t1"}}
    await graph.ainvoke({**INPUTS, "images": [image]}, thread)
    paused = await graph.aget_state(thread)
    assert paused.next == ("critic",) and "critic" not in paused.values["modules_run"]
    out = await graph.ainvoke(Command(resume=True), thread)  # resume: no new input
    assert out["answer"] == "2" and out["modules_run"][-2:] == ["critic", "self_check"]


def test_interrupt_after_and_unknown_node_names(image: str) -> None:
    graph = create_catts_graph(model(), checkpointer=InMemorySaver(), interrupt_after=["sample"])
    thread: Any = {"configurable": {"thread_id": "t2"}}
    graph.invoke({**INPUTS, "images": [image]}, thread)
    assert graph.get_state(thread).next == ("vote",)
    with pytest.raises(ValueError, match=r"interrupt_before names no node of this graph: \['critc'\]"):
        create_catts_graph(model(), interrupt_before=["critc"])


def test_the_store_reaches_the_graph_and_debug_and_name_are_kept() -> None:
    store = InMemoryStore()
    graph = create_catts_graph(model(), store=store, debug=True, name="ca_tts")
    assert graph.store is store and graph.debug and graph.name == "ca_tts"


async def test_typed_v2_stream_parts_carry_custom_events_and_updates(image: str) -> None:
    graph = create_catts_graph(model(), expert=ScriptedExpert())
    parts = [p async for p in graph.astream({**INPUTS, "images": [image]}, stream_mode=["custom", "updates"],
                                           version="v2")]  # fmt: skip
    kinds = {p["type"] for p in parts}
    assert kinds == {"custom", "updates"}
    events = [p["data"]["event"] for p in parts if p["type"] == "custom"]
    assert events[0] == "settings" and events[-1] == "final" and "route" in events
    assert any("finalize" in p["data"] for p in parts if p["type"] == "updates")


def test_invoke_v2_returns_a_graph_output(image: str) -> None:
    out = create_catts_graph(model()).invoke({**INPUTS, "images": [image]}, version="v2")
    assert isinstance(out, GraphOutput) and out.value["answer"] == "2" and out.interrupts == ()


def test_no_private_langgraph_or_langchain_import() -> None:
    private = []
    for path in sorted([*ROOT.joinpath("nodes").rglob("*.py"), *ROOT.joinpath("catts_graph").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            private += [f"{path.name}: {n}" for n in names if any(p.startswith("_") for p in n.split(".")[1:])]
    assert private == []
