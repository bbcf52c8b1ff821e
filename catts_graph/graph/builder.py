"""`create_catts_graph`: CA-TTS as a compiled LangGraph state machine.

Topology (disabled stages are left out)::

    START -> prepare -> sample -> vote -> gate -> critic ------> gate
                   \\-> planner            gate -> self_check --> gate
                                          gate -> finalize ----> END

`prepare` validates the input and resets per-run keys; `planner` (optional) runs beside `sample`; `gate` routes by
policy and confidence (see `nodes.routing`). Model-calling nodes retry transient model errors with backoff.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph.types import All, Checkpointer, RetryPolicy

from catts_graph.graph.sync_bridge import BridgedNode
from nodes.config import CATTSConfig
from nodes.critic import CriticNode
from nodes.errors import TransientModelError
from nodes.expert import Expert, as_expert, with_retries
from nodes.planner import PlannerNode
from nodes.protocol import VisionLanguageModel
from nodes.relevance import RelevanceModel
from nodes.routing import FINALIZE, OPTIONAL_STAGES, GateNode, Prepare, finalize, next_module
from nodes.run_context import CATTSContext, run_settings
from nodes.sample import SampleNode
from nodes.self_check import SelfCheckNode
from nodes.state import CATTSInput, CATTSOutput, CATTSState
from nodes.steps import ImageTextModel
from nodes.tracing import TracedModel
from nodes.vote import VoteNode

MODEL_RETRY = RetryPolicy(
    initial_interval=0.5, backoff_factor=2.0, max_interval=8.0, max_attempts=3, retry_on=TransientModelError
)


def build_catts_graph(
    model: VisionLanguageModel,
    *,
    expert: BaseChatModel | VisionLanguageModel | Expert | None = None,
    config: CATTSConfig | None = None,
    relevance: RelevanceModel | None = None,
    trace_images: bool = False,
    retry: RetryPolicy = MODEL_RETRY,
) -> StateGraph[CATTSState, CATTSContext, CATTSInput, CATTSOutput]:
    """The uncompiled CA-TTS `StateGraph` (add nodes or edges before compiling). See `create_catts_graph`."""
    if not isinstance(model, VisionLanguageModel):
        raise TypeError(
            f"model must implement nodes.VisionLanguageModel (sample and score), got {type(model).__name__}; "
            "use catts_graph.VLLMClient for a vLLM server."
        )
    config = config or CATTSConfig()
    model = TracedModel(model, include_images=trace_images)
    if isinstance(expert, VisionLanguageModel):
        expert = TracedModel(expert, include_images=trace_images)
    the_expert = with_retries(as_expert(expert, model, include_images=trace_images), retry)
    modules = [m for m in ("critic", "self_check") if getattr(config, m).enabled]
    built = [m for m in OPTIONAL_STAGES if getattr(config, m).enabled]

    builder = StateGraph(CATTSState, context_schema=CATTSContext, input_schema=CATTSInput, output_schema=CATTSOutput)
    builder.add_node("prepare", Prepare(modules=built, config=config))
    stages: dict[str, Any] = {
        "sample": SampleNode(
            model,
            sampling=config.sampling,
            vote=config.vote,
            routing=config.routing,
            steps=config.steps,
            image_text=relevance if isinstance(relevance, ImageTextModel) else None,
            expert=the_expert,  # asked only when the sequential stopping rule counts its answer
        ),
        "vote": VoteNode(the_expert, config=config.vote),  # the Voter can be switched on or off per run
        "gate": GateNode(modules=modules, config=config),
    }
    if config.planner.enabled:
        stages["planner"] = PlannerNode(the_expert, modules=modules, config=config.planner)
    if config.critic.enabled:
        stages["critic"] = CriticNode(model, the_expert, config=config.critic)
    if config.self_check.enabled:
        stages["self_check"] = SelfCheckNode(model, config=config.self_check, relevance=relevance)
    for name, node in stages.items():  # each works under invoke and ainvoke (see catts_graph.graph.sync_bridge)
        builder.add_node(name, BridgedNode(node, name), retry_policy=None if name == "gate" else retry)
    builder.add_node(FINALIZE, finalize)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "sample")
    if config.planner.enabled:
        builder.add_edge("prepare", "planner")
        builder.add_edge(["sample", "planner"], "vote")
    else:
        builder.add_edge("sample", "vote")
    builder.add_edge("vote", "gate")
    for module in modules:
        builder.add_edge(module, "gate")
    builder.add_conditional_edges("gate", next_module, {m: m for m in [*modules, FINALIZE]})
    builder.add_edge(FINALIZE, END)
    return builder


def create_catts_graph(
    model: VisionLanguageModel,
    *,
    expert: BaseChatModel | VisionLanguageModel | Expert | None = None,
    config: CATTSConfig | None = None,
    relevance: RelevanceModel | None = None,
    trace_images: bool = False,
    retry: RetryPolicy = MODEL_RETRY,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    interrupt_before: All | list[str] | None = None,
    interrupt_after: All | list[str] | None = None,
    debug: bool = False,
    name: str = "catts",
) -> CATTSGraph:
    """CA-TTS for one vision-language question, as a compiled LangGraph graph.

    Args:
        model: the base model (`catts_graph.VLLMClient`, or anything implementing `nodes.VisionLanguageModel`).
        expert: Planner/Voter/Critic: a LangChain chat model (e.g. `ChatOpenAI(base_url=...)`), another
            `VisionLanguageModel`, or None for the base model itself.
        config: the graph's defaults; a run can override them with `context=CATTSConfig(...)`.
        relevance: finds the image patches a question is about, for the self-check's question-guided noise (e.g.
            `catts_graph.ClipRelevance`); None noises the whole image (recorded in `fallbacks`). When it also
            scores texts against an image (`nodes.steps.ImageTextModel`, as `ClipRelevance` does), each reasoning
            step's visual agreement is part of its confidence.
        trace_images: put the images into traces as data URLs (default: a short placeholder per image).
        retry: LangGraph retry policy of the model-calling nodes (on `TransientModelError`) and of every expert
            call (on any transient fault); an expert fault that outlives it is recorded in `fallbacks`.
        checkpointer: any LangGraph checkpointer (then pass a `thread_id` in the run config).
        store: a LangGraph store, readable by nodes through the run's `Runtime`.
        interrupt_before: node names (or ``"*"``) to pause before; resume with the same `thread_id` (needs a
            checkpointer), as in LangGraph's prebuilt agents.
        interrupt_after: node names (or ``"*"``) to pause after.
        debug: LangGraph's debug mode (every step printed).
        name: the graph's name in traces and as a subgraph.

    A run's `context` overrides the config for that run: a partial dict (``{"sampling": {"n": 4}}``), a
    `CATTSConfig`, or, from a parent graph or agent, a ``catts`` key or attribute of the parent's own context;
    any other context is ignored (`nodes.run_context`).

    Input ``{question, images, choices?, answer_type?}``; output ``{answer, confidence, votes, contributions,
    modules_run, routes, fallbacks, usage, samples, critique, self_check, settings}``.

    Example:
        >>> import asyncio
        >>> from catts_graph import VLLMClient, create_catts_graph
        >>> graph = create_catts_graph(VLLMClient("http://127.0.0.1:8000"))  # doctest: +SKIP
        >>> out = asyncio.run(graph.ainvoke({"question": "How many circles are there?", "images": ["a.png"]}))
        ... # doctest: +SKIP
        >>> out["answer"], out["confidence"], out["modules_run"]  # doctest: +SKIP
        ('2', 0.71, ['self_consistency', 'voter', 'critic', 'self_check'])
    """
    config = config or CATTSConfig()
    graph = build_catts_graph(
        model, expert=expert, config=config, relevance=relevance, trace_images=trace_images, retry=retry
    )
    known = set(graph.nodes)
    for option, names in (("interrupt_before", interrupt_before), ("interrupt_after", interrupt_after)):
        unknown = sorted(set(names) - known) if isinstance(names, list) else []
        if unknown:
            raise ValueError(f"{option} names no node of this graph: {unknown}; nodes: {sorted(known)}")
    compiled = graph.compile(
        checkpointer=checkpointer,
        store=store,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        debug=debug,
        name=name,
    ).with_config(tags=["catts"])
    attrs = {k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"}
    return CATTSGraph(**attrs, catts_config=config)


class CATTSGraph(CompiledStateGraph[CATTSState, CATTSContext, CATTSInput, CATTSOutput]):
    """The compiled CA-TTS graph. Each run's trace carries the settings that run uses (the graph's config with what
    its `context` sets) as metadata: `catts_policy`, `catts_n`, `catts_modules`, and the tag ``policy:<name>``; a
    context given to it that does not fit `CATTSConfig` raises `InvalidInputError` before any node runs."""

    def __init__(self, *args: Any, catts_config: CATTSConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catts_config = catts_config

    def _run_config(self, config: RunnableConfig | None, context: Any) -> RunnableConfig:
        settings = run_settings(self.catts_config, context)
        modules = [m for m in OPTIONAL_STAGES if getattr(settings, m).enabled]
        metadata = {"catts_policy": settings.routing.policy, "catts_n": settings.sampling.n, "catts_modules": modules}
        return merge_configs(RunnableConfig(metadata=metadata, tags=[f"policy:{settings.routing.policy}"]), config)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        return super().stream(input, self._run_config(config, kwargs.get("context")), **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for chunk in super().astream(input, self._run_config(config, kwargs.get("context")), **kwargs):
            yield chunk
