"""Sync invocation and tracing: the graph under invoke/stream, and the run tree a callback handler sees."""

from __future__ import annotations

import asyncio

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.testing import ScriptedModel

QUESTION = "How many circles are there?"


class Recorder(BaseTracer):
    """Keeps every finished root run (with its child runs); chat-model inputs as messages, like LangSmith's tracer."""

    def __init__(self) -> None:
        super().__init__(_schema_format="original+chat")
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


def walk(run: Run) -> list[Run]:
    return [run, *(r for child in run.child_runs for r in walk(child))]


def test_sync_invoke_and_stream_work_like_the_async_ones(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)])
    graph = create_catts_graph(model)
    out = graph.invoke({"question": QUESTION, "images": [image]})
    assert out["answer"] == "2" and out["modules_run"][-2:] == ["critic", "self_check"]
    chunks = list(graph.stream({"question": QUESTION, "images": [image]}, stream_mode=["updates", "custom"]))
    assert {mode for mode, _ in chunks} == {"updates", "custom"}
    assert [next(iter(c)) for mode, c in chunks if mode == "updates"][-1] == "finalize"
    again = asyncio.run(graph.ainvoke({"question": QUESTION, "images": [image]}))
    assert again["answer"] == out["answer"]


async def test_sync_invoke_from_inside_a_running_event_loop(image: str) -> None:
    graph = create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)]))
    out = await asyncio.to_thread(graph.invoke, {"question": QUESTION, "images": [image]})
    assert out["answer"] == "2"


async def test_a_callback_handler_sees_named_nested_runs_with_metadata_and_no_image_blobs(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)])
    expert = GenericFakeChatModel(messages=iter([AIMessage("2: 0.9\n3: 0.1"), AIMessage("The answer is correct.")]))
    graph = create_catts_graph(model, expert=expert, config=CATTSConfig(), name="catts")
    recorder = Recorder()
    await graph.ainvoke({"question": QUESTION, "images": [image]}, {"callbacks": [recorder]})
    root = next(r for r in recorder.roots if r.name == "catts")
    assert root.metadata["catts_policy"] == "paper" and root.metadata["catts_n"] == 8
    assert {"catts", "policy:paper"} <= set(root.tags or [])
    assert root.outputs and root.outputs["answer"] == "2" and "confidence" in root.outputs
    nodes = {run.name for run in root.child_runs}
    assert {"prepare", "sample", "vote", "gate", "critic", "self_check", "finalize"} <= nodes
    sample_node = next(run for run in root.child_runs if run.name == "sample")
    model_runs = [r for r in walk(sample_node) if r.run_type in ("llm", "chat_model")]
    assert model_runs and model_runs[0].name == model.name
    assert model_runs[0].extra["invocation_params"]["n"] == 8
    vote_node = next(run for run in root.child_runs if run.name == "vote")
    expert_runs = [r for r in walk(vote_node) if r.run_type in ("llm", "chat_model")]
    assert [r.name for r in expert_runs] == ["GenericFakeChatModel"]  # one run: ours, not a duplicate of its own
    everything = str([r.inputs for r in walk(root)])
    assert "base64," not in everything and "<image: image/png," in everything


async def test_trace_images_puts_the_data_urls_into_the_trace(image: str) -> None:
    graph = create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)]), trace_images=True)
    recorder = Recorder()
    await graph.ainvoke({"question": QUESTION, "images": [image]}, {"callbacks": [recorder]})
    assert "data:image/png;base64," in str([r.inputs for root in recorder.roots for r in walk(root)])


def test_without_callbacks_tracing_costs_nothing(image: str) -> None:
    graph = create_catts_graph(ScriptedModel([("\\boxed{2}", 9.0)]))
    assert graph.invoke({"question": QUESTION, "images": [image]})["answer"] == "2"


def test_a_sync_call_from_inside_the_bridge_fails_loudly_instead_of_deadlocking() -> None:
    import pytest

    from catts_graph.graph.sync_bridge import run_sync

    async def nested() -> int:
        return run_sync(asyncio.sleep(0, result=1))

    with pytest.raises(RuntimeError, match="ainvoke"):
        run_sync(nested())
    assert run_sync(asyncio.sleep(0, result=2)) == 2
