"""The graph's methods in `catts eval`: ``catts-paper``, ``catts-adaptive``, ``catts-sequential``, their ``/REGION``
variants and the ``catts[...]`` ablations, each run on the first N of an item's pre-drawn samples.

`PresampledModel` hands the graph those samples instead of drawing new ones, so it votes on exactly the samples
every other method saw. Each run's base model and expert are wrapped in token counters
(`catts_graph.evaluation.counting`), so its result line says how many tokens each model processed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from catts_graph.benchmarks import BenchmarkItem, matches
from catts_graph.evaluation.counting import CountingModel, TokenCounter, counting_expert
from catts_graph.evaluation.methods import (
    CATTS_PRESETS,
    Prediction,
    ablation_modules,
    region_override,
    skips_futile,
)
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.elicit import statement_counts
from nodes.errors import InvalidInputError
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, VisionLanguageModel
from nodes.relevance import RelevanceModel
from nodes.run_context import with_overrides
from nodes.state import SampleRecord
from nodes.vote import sample_weights
from nodes.voting import usable_weight


class PresampledModel:
    """The base model, except that sampling calls (temperature > 0) return pre-drawn samples: the graph then votes
    on exactly the samples every other method saw."""

    def __init__(self, model: VisionLanguageModel, samples: Sequence[Sample]):
        self.model = model
        self.samples = list(samples)
        self._drawn = 0  # successive sampling calls (adaptive sampling draws in two steps) get the next samples

    @property
    def name(self) -> str:
        return self.model.name

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        if params.temperature > 0:  # the graph's self-consistency draw; greedy calls (critic, expert) pass through
            end = self._drawn + params.n
            if end > len(self.samples):
                raise InvalidInputError(f"asked for {end} samples in all, {len(self.samples)} were drawn")
            taken, self._drawn = self.samples[self._drawn : end], end
            return taken
        return await self.model.sample(messages, params)

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        return await self.model.score(messages, answer, top_logprobs=top_logprobs)


def catts_config(method: str, n: int, base: CATTSConfig) -> tuple[CATTSConfig, int]:
    """The graph configuration of a catts method at N, and how many pre-drawn samples it votes on."""
    preset, region = region_override(method)
    if preset in CATTS_PRESETS:
        policy = preset.removeprefix("catts-")
        update: dict[str, Any] = {"sampling": {"n": n}, "routing": {"policy": policy}}
        if skips_futile(method):  # `catts-paper+skip-futile`: the modules that cannot change the answer are skipped
            update["routing"]["skip_futile"] = True
        if region is not None:  # `catts-paper/REGION`: the self-check noises this region
            update["self_check"] = {"noise": {"region": region}}
        return with_overrides(base, update), n
    modules = ablation_modules(method) or set()
    n_used = n if "sc" in modules else 1
    return (
        base.model_copy(
            update={
                "sampling": base.sampling.model_copy(update={"n": n_used}),
                "vote": base.vote.model_copy(update={"voter": "voter" in modules}),
                "critic": base.critic.model_copy(update={"enabled": "critic" in modules}),
                "self_check": base.self_check.model_copy(update={"enabled": "check" in modules}),
                "routing": base.routing.model_copy(update={"policy": "paper"}),
            }
        ),
        n_used,
    )


@dataclass(frozen=True)
class CattsRun:
    """One graph run of an item: its prediction (tokens per model included), its wall time without the sampling,
    how many pre-drawn samples it could use, and what its result line records beside them."""

    prediction: Prediction
    wall_s: float
    n_used: int
    recorded: dict[str, Any]


async def run_catts(
    method: str,
    n: int,
    item: BenchmarkItem,
    drawn: tuple[Sequence[Sample], Sequence[SampleRecord]],
    models: tuple[VisionLanguageModel, Any],
    config: CATTSConfig,
    relevance: RelevanceModel | None,
) -> CattsRun:
    """One catts method at N on the item's pre-drawn samples and their records (`drawn`), with the base model and
    the expert (`models`)."""
    samples, records = drawn
    model, expert = models
    config, n_used = catts_config(method, n, config)
    base_tokens, expert_tokens = TokenCounter(), TokenCounter()
    graph = create_catts_graph(
        CountingModel(PresampledModel(model, samples[:n_used]), base_tokens),
        expert=counting_expert(expert, expert_tokens),
        config=config,
        relevance=relevance,
    )
    started = time.perf_counter()
    out = await graph.ainvoke(item.graph_input())
    wall_s = time.perf_counter() - started
    usage = out["usage"]
    prediction = Prediction(
        out["answer"],
        out["confidence"],
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["model_calls"],
        usage["expert_calls"],
        base_tokens=base_tokens.tokens,
        expert_tokens=expert_tokens.tokens,
    )
    recorded: dict[str, Any] = {
        "fallbacks": out.get("fallbacks", []),  # e.g. a failed expert call: the method ran degraded
        "contributions": out["contributions"],  # each module's votes, for `catts calibrate`
        "correct_candidates": sorted({a for c in out["contributions"] for a in c["votes"] if matches(a, item)}),
        "drawn": len(out["samples"]),
        "confidence_source": out["settings"]["confidence"]["source"],  # what the votes weighed
        "statements": statement_counts(out["samples"]),  # where the samples' statements came from
        "self_check": _self_check_record(out.get("self_check")),  # each candidate's scores and the pick
    }
    if config.routing.policy == "sequential":  # every draw it could have made, for `catts calibrate`
        source = out["settings"]["confidence"]["source"]
        weights = map(usable_weight, sample_weights(list(records[:n_used]), config.vote.weighting, source))
        recorded["draws"] = [[r["answer"], w] for r, w in zip(records[:n_used], weights, strict=True)]
        asked = out.get("expert_answer")
        recorded["expert"] = None if asked is None else asked["answer"]  # the rule's expert vote
    return CattsRun(prediction, wall_s, n_used, recorded)


def _self_check_record(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The self-check's record as a results line keeps it: the pick and each candidate's log-probs and plausibility,
    without the noise settings (the run's settings hold them)."""
    if record is None:
        return None
    return {key: value for key, value in record.items() if key != "noise"}
