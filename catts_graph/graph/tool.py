"""`as_tool`: the CA-TTS graph as a LangChain tool, for tool-calling agents.

The tool takes a question, an image reference (a local path or a ``data:`` URL) and optional answer choices. Its
content, what the calling model reads, is one line: the answer, its confidence and the modules that ran; the full
graph output (votes, routes, fallbacks, usage) is the tool message's artifact. Sync (`invoke`) and async
(`ainvoke`) both work.

Example:
    >>> tool = as_tool(create_catts_graph(VLLMClient("http://127.0.0.1:8000")))  # doctest: +SKIP
    >>> tool.invoke({"question": "How many circles are there?", "image": "shapes.png"})  # doctest: +SKIP
    'answer: 2 (confidence 0.71; modules: self_consistency, voter, critic, self_check)'
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import StructuredTool
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from nodes.state import graph_input

DEFAULT_DESCRIPTION = (
    "Answer a question about an image reliably: samples several answers from a vision-language model, votes "
    "weighted by confidence, and checks the leading answer with a critic and a visual self-check. Returns the "
    "answer and its confidence (0-1). Use it for counting, reading and comparing things in an image."
)


class CATTSToolInput(BaseModel):
    """The tool's arguments."""

    question: str = Field(description="The question about the image.")
    image: str = Field(description="The image: a local file path or a data: URL.")
    choices: list[str] | None = Field(
        default=None, description="Answer options for a multiple-choice question; the answer is then a letter."
    )


def _summary(out: dict[str, Any]) -> str:
    if out.get("answer") is None:
        return "no answer: every sample was unparseable (see the artifact's fallbacks)"
    modules = ", ".join(out.get("modules_run", []))
    return f"answer: {out['answer']} (confidence {out.get('confidence', 0.0):.2f}; modules: {modules})"


def as_tool(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    *,
    name: str = "answer_about_image",
    description: str = DEFAULT_DESCRIPTION,
) -> StructuredTool:
    """Wrap a compiled CA-TTS graph (from `create_catts_graph`) as a LangChain `StructuredTool`."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"tool name {name!r} must be letters, digits, '_' or '-' (what tool-calling APIs accept)")

    def run(question: str, image: str, choices: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        out = dict(graph.invoke(graph_input(question, [image], choices=choices)))
        return _summary(out), out

    async def arun(question: str, image: str, choices: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        out = dict(await graph.ainvoke(graph_input(question, [image], choices=choices)))
        return _summary(out), out

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=description,
        args_schema=CATTSToolInput,
        response_format="content_and_artifact",
    )
