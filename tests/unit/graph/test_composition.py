"""Composition: the compiled graph as a parent graph's node and as a LangChain tool (sync and async)."""

from __future__ import annotations

from typing import TypedDict

import pytest
from langchain_core.messages import ToolCall
from langgraph.graph import END, START, StateGraph

from catts_graph.graph import create_catts_graph
from catts_graph.graph.tool import CATTSToolInput, as_tool
from nodes.errors import InvalidInputError
from nodes.testing import ScriptedModel


class Parent(TypedDict, total=False):
    question: str
    images: list[str]
    answer: str | None
    confidence: float
    note: str


def parent_graph(image_model: ScriptedModel) -> object:
    builder = StateGraph(Parent)
    builder.add_node("note", lambda s: {"note": "from another node"})
    builder.add_node("catts", create_catts_graph(image_model))
    builder.add_edge(START, "note")
    builder.add_edge("note", "catts")
    builder.add_edge("catts", END)
    return builder.compile()


async def test_mounted_as_a_node_it_reads_and_writes_the_shared_keys(image: str) -> None:
    graph = parent_graph(ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)]))
    out = await graph.ainvoke({"question": "How many circles are there?", "images": [image]})  # type: ignore[attr-defined]
    assert out["answer"] == "2" and 0 < out["confidence"] <= 1 and out["note"] == "from another node"
    assert "votes" not in out  # keys the parent does not declare stay inside
    assert graph.invoke({"question": "How many?", "images": [image]})["answer"] == "2"  # type: ignore[attr-defined]


def test_the_tool_schema_names_question_image_and_choices() -> None:
    tool = as_tool(create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)])))
    assert tool.name == "answer_about_image" and tool.args_schema is CATTSToolInput
    assert set(tool.args) == {"question", "image", "choices"}
    with pytest.raises(ValueError, match="tool name"):
        as_tool(create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)])), name="bad name!")


async def test_the_tool_answers_with_a_summary_and_the_full_output_as_artifact(image: str) -> None:
    tool = as_tool(create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)])))
    call = ToolCall(name=tool.name, args={"question": "How many circles?", "image": image}, id="c1", type="tool_call")
    message = await tool.ainvoke(call)
    assert message.content.startswith("answer: 2 (confidence ") and "self_check" in message.content
    assert message.artifact["answer"] == "2" and "votes" in message.artifact
    sync = tool.invoke({**call, "id": "c2"})
    assert sync.content == message.content


def test_tool_input_errors_are_typed(image: str) -> None:
    tool = as_tool(create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)])))
    with pytest.raises(InvalidInputError):
        tool.invoke({"question": "How many?", "image": image + ".missing"})
