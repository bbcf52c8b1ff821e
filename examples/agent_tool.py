"""Call CA-TTS as a tool from an agent loop (LangGraph's prebuilt `ToolNode`).

The agent's own model is scripted here (the bundled ShapesVQA models do not call tools): it asks the tool once,
then reports what the tool said. The tool call itself runs for real against the vLLM server.

    CATTS_BASE_URL=http://127.0.0.1:8000 python examples/agent_tool.py [IMAGE [QUESTION]]
"""

from __future__ import annotations

from typing import Any

from _common import endpoint, image_and_question
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from catts_graph import CATTSConfig, VLLMClient, create_catts_graph
from catts_graph.graph.tool import as_tool


def scripted_agent(image: str, question: str) -> Any:
    """Turn 1: call the tool. Turn 2: answer from the tool's result."""

    def agent(state: MessagesState) -> dict[str, list[AnyMessage]]:
        last = state["messages"][-1]
        if isinstance(last, ToolMessage):
            return {"messages": [AIMessage(content=f"The tool says: {last.content}")]}
        call = {"name": "answer_about_image", "args": {"question": question, "image": image}, "id": "call-1"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    return agent


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def main() -> None:
    base_url, model_name = endpoint()
    image, question = image_and_question()
    config = CATTSConfig.model_validate({"sampling": {"n": 4, "max_tokens": 64}})
    tool = as_tool(create_catts_graph(VLLMClient(base_url, model_name), config=config))
    graph = StateGraph(MessagesState)
    graph.add_node("agent", scripted_agent(image, question))
    graph.add_node("tools", ToolNode([tool]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    out = graph.compile().invoke({"messages": [HumanMessage(question)]})
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    print(out["messages"][-1].content)
    print("votes in the artifact:", tool_message.artifact["votes"])


if __name__ == "__main__":
    main()
