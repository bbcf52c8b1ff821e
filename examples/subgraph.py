"""Mount the CA-TTS graph as a node of a parent graph, next to another tool node.

Key mapping: the parent state shares `question` and `images` (read by CA-TTS) and `answer` and `confidence`
(written by it) by name; keys only the parent has (`image_info`, `report`) pass by untouched, and CA-TTS's other
outputs are dropped at the boundary unless the parent declares them too (here `modules_run`).

    CATTS_BASE_URL=http://127.0.0.1:8000 python examples/subgraph.py [IMAGE [QUESTION]]
"""

from __future__ import annotations

from typing import TypedDict

from _common import endpoint, image_and_question
from langgraph.graph import END, START, StateGraph
from PIL import Image

from catts_graph import CATTSConfig, VLLMClient, create_catts_graph


class Parent(TypedDict, total=False):
    question: str
    images: list[str]
    image_info: str
    answer: str | None
    confidence: float
    modules_run: list[str]
    report: str


def image_info(state: Parent) -> Parent:
    """Another tool node: describes the image file."""
    with Image.open(state["images"][0]) as im:
        return {"image_info": f"{im.width}x{im.height} {im.mode}"}


def report(state: Parent) -> Parent:
    text = (
        f"{state['question']} -> {state['answer']} (confidence {state['confidence']:.2f}, "
        f"modules {', '.join(state['modules_run'])}; image {state['image_info']})"
    )
    return {"report": text}


def main() -> None:
    base_url, model_name = endpoint()
    image, question = image_and_question()
    config = CATTSConfig.model_validate({"sampling": {"n": 4, "max_tokens": 64}})
    catts = create_catts_graph(VLLMClient(base_url, model_name), config=config)
    parent = StateGraph(Parent)
    parent.add_node("image_info", image_info)
    parent.add_node("catts", catts)  # the compiled graph is the node
    parent.add_node("report", report)
    parent.add_edge(START, "image_info")
    parent.add_edge("image_info", "catts")
    parent.add_edge("catts", "report")
    parent.add_edge("report", END)
    out = parent.compile().invoke({"question": question, "images": [image]})  # sync: works too
    print(out["report"])


if __name__ == "__main__":
    main()
