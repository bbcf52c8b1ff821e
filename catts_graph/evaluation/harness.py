"""The evaluation loop behind `catts eval`: shared samples per item, every method at every N, resumable results.

Per item: one greedy answer (if asked for), then max(N) samples in one request; each method at each N is computed
on the first N of those samples (the graph through `catts_runs.PresampledModel`), so comparisons are paired; the
expert-alone baselines (`expert_baselines`) follow the same conventions with the expert's answers and samples. Each
line records the tokens the base model and the expert processed (``base_tokens``, ``expert_tokens``), what compute
(`catts_graph.evaluation.compute`) multiplies by their parameter counts. All lines of an
item are appended to `results.jsonl` in one write and synced to disk, so an interrupted run loses at most the items
in flight; a resumed run skips the items already there and drops a half-written last line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from catts_graph.benchmarks import BenchmarkItem, matches
from catts_graph.evaluation.catts_runs import run_catts
from catts_graph.evaluation.expert_baselines import expert_baselines, require_expert
from catts_graph.evaluation.judge import JUDGE_PROMPT_VERSION, AnswerJudge
from catts_graph.evaluation.methods import (
    DEEPCONF_ONLINE,
    EXPERT_BASELINES,
    WEIGHTED_VOTES,
    Prediction,
    deepconf_online,
    greedy_prediction,
    vote_prediction,
)
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.steps import step_rows
from catts_graph.graph.config import CATTSConfig, GroundingConfig
from nodes.common import question_messages
from nodes.confidence import token_confidences
from nodes.declared import resolve_source
from nodes.elicit import elicit_under_stated, statement_stop
from nodes.grounding import grounding_scores
from nodes.images import load_image
from nodes.protocol import Sample, SamplingParams, VisionLanguageModel
from nodes.relevance import RelevanceModel
from nodes.sample import sample_record, visual_agreement
from nodes.state import SampleRecord
from nodes.stated import stated_answer_confidence
from nodes.steps import ImageTextModel, split_steps


@dataclass(frozen=True)
class EvalSettings:
    """What to evaluate: methods, the N sweep, sampling, the graph's configuration, and concurrency."""

    methods: tuple[str, ...]
    ns: tuple[int, ...] = (8,)
    config: CATTSConfig = field(default_factory=CATTSConfig)
    concurrency: int = 4
    relevance: RelevanceModel | None = None  # question-guided self-check noise (see `create_catts_graph`)
    judge: AnswerJudge | None = None  # asked when the rule-based matcher rejects a prediction

    def to_json(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "ns": list(self.ns),
            "config": self.config.model_dump(mode="json"),
            "relevance": None if self.relevance is None else type(self.relevance).__name__,
            "judge": None if self.judge is None else {"model": self.judge.name, "prompt": JUDGE_PROMPT_VERSION},
        }


def grounding_reader(
    item: BenchmarkItem, grounding: GroundingConfig
) -> Callable[[Sequence[str]], dict[str, float]] | None:
    """For a grounded run on an item with true boxes: responses -> their mean ``iou`` and ``boxes_named`` share
    (`nodes.grounding.grounding_scores`); else None."""
    if not grounding.enabled or item.boxes is None:
        return None
    width, height = load_image(item.image).size
    frame = grounding.box_frame()

    def read(texts: Sequence[str]) -> dict[str, float]:
        scores = [grounding_scores(text, item.boxes or (), frame, width, height) for text in texts]
        return {key: sum(s[key] for s in scores) / max(len(scores), 1) for key in ("iou", "boxes_named")}

    return read


async def evaluate_item(
    model: VisionLanguageModel,
    expert: Any,
    item: BenchmarkItem,
    settings: EvalSettings,
    expert_model: VisionLanguageModel | None = None,
) -> list[dict[str, Any]]:
    """Every (method, N) result line for one item; `expert_model` answers the expert-alone baselines."""
    sampling = settings.config.sampling
    elicit = settings.config.confidence.elicit  # under `all` the answers stop where the statement opens
    window = settings.config.vote.window
    inputs = item.graph_input()
    grounding = settings.config.grounding
    messages = question_messages(inputs, grounded=grounding.enabled)
    grounded = grounding_reader(item, grounding)

    steps = settings.config.steps
    relevance: object = settings.relevance  # e.g. ClipRelevance also scores steps against the image
    image_text = relevance if isinstance(relevance, ImageTextModel) else None

    async def records_of(samples: Sequence[Sample]) -> list[SampleRecord]:
        visual: Sequence[list[float] | None] = [None] * len(samples)
        if image_text is not None and steps.weights.get("visual", 0.0) != 0:
            texts = [[step.text for step in split_steps(s.text, steps.splitter)] for s in samples]
            visual = await visual_agreement(image_text, [item.image], texts) or visual
        return [
            sample_record(s, answer_type=item.answer_type, choices=inputs["choices"], window=window, steps=steps,
                          visual=v)
            for s, v in zip(samples, visual, strict=True)
        ]  # fmt: skip

    def steps_of(records: Sequence[SampleRecord]) -> list[list[Any]]:
        return [row for r in records for row in step_rows(r, item.steps, matches(r["answer"], item))]

    lines: list[dict[str, Any]] = []

    def add(method: str, n: int, prediction: Prediction, wall_s: float, extra: dict[str, Any] | None = None) -> None:
        lines.append(
            {
                "id": item.id,
                "method": method,
                "n": n,
                "prediction": prediction.answer,
                "gold": item.answer,
                "correct": matches(prediction.answer, item),
                "confidence": prediction.confidence,
                "prompt_tokens": prediction.prompt_tokens,
                "completion_tokens": prediction.completion_tokens,
                "tokens": prediction.tokens,
                "base_tokens": prediction.tokens_by_model[0],
                "expert_tokens": prediction.tokens_by_model[1],
                "calls": prediction.model_calls,
                "expert_calls": prediction.expert_calls,
                "wall_s": round(wall_s, 4),
                **(extra or {}),
            }
        )

    if "greedy" in settings.methods:
        started = time.perf_counter()
        greedy_params = statement_stop(SamplingParams(n=1, temperature=0.0, max_tokens=sampling.max_tokens), elicit)
        greedy = (await model.sample(messages, greedy_params))[0]
        greedy_record = (await records_of([greedy]))[0]
        source = settings.config.confidence.source
        [greedy_record], elicited = await elicit_under_stated(model, messages, [greedy_record], source, elicit)
        prediction = greedy_prediction(greedy_record, greedy.prompt_tokens + elicited["prompt_tokens"], source)
        prediction = dataclasses.replace(prediction, model_calls=1 + elicited["model_calls"])
        extra: dict[str, Any] = {
            "confidence_source": resolve_source([greedy_record], source),  # which one `confidence` is
            "probability": greedy_record["probability"],
            "stated_confidence": greedy_record["stated_confidence"],
            "stated_from": greedy_record["stated_from"],  # written, elicited (nodes.elicit) or none
            "stated_written": stated_answer_confidence(greedy.text),  # the written digit's value, for comparison
            "answer_probability": greedy_record["answer_probability"],  # the second declared form
            "steps": steps_of([greedy_record]),
        }
        if grounded is not None:
            extra["grounding"] = grounded([greedy.text])
        add("greedy", 1, prediction, time.perf_counter() - started, extra)
    for result in await expert_baselines(expert_model, item, settings.methods, settings.ns, settings.config):
        add(result.method, result.n, result.prediction, result.wall_s, result.extra)
    if all(m in ("greedy", *EXPERT_BASELINES) for m in settings.methods):  # no method votes on the base samples
        return await _judged(settings, item, lines)
    max_n = max(settings.ns)
    started = time.perf_counter()
    samples = await model.sample(messages, statement_stop(sampling.model_copy(update={"n": max_n}).params(), elicit))
    sampling_wall = time.perf_counter() - started
    records = await records_of(samples)
    prompt_tokens = samples[0].prompt_tokens if samples else 0
    for n in settings.ns:
        share = sampling_wall * n / max_n  # the sampling time is shared out in proportion to N
        for method in settings.methods:
            if method in ("greedy", *EXPERT_BASELINES):
                continue
            if method == "majority":
                read: dict[str, Any] = (
                    {} if grounded is None else {"grounding": grounded([s.text for s in samples[:n]])}
                )
                if n == max_n:
                    read["steps"] = steps_of(records)
                add(method, n, vote_prediction(records[:n], "majority", prompt_tokens), share, read)
            elif method in WEIGHTED_VOTES:
                weighting, top = WEIGHTED_VOTES[method]
                add(method, n, vote_prediction(records[:n], weighting, prompt_tokens, top), share)
            elif method == DEEPCONF_ONLINE:
                confs = [list(token_confidences([t.top_logprobs for t in s.tokens])) for s in samples[:n]]
                add(method, n, deepconf_online(records[:n], confs, prompt_tokens, window=window), share)
            else:
                drawn, models = (samples, records), (model, expert)
                run = await run_catts(method, n, item, drawn, models, settings.config, settings.relevance)
                add(method, n, run.prediction, run.wall_s + sampling_wall * run.n_used / max_n, run.recorded)
    return await _judged(settings, item, lines)


async def _judged(settings: EvalSettings, item: BenchmarkItem, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if settings.judge is not None:
        await judge_lines(settings.judge, item, lines)
    return lines


def degraded_warnings(lines: list[dict[str, Any]]) -> list[str]:
    """One warning per method and N whose graph fell back on some items (an unreachable expert, say), naming the
    most common fallback: those items measured a degraded method."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        runs.setdefault(f"{line['method']}@{line['n']}", []).append(line)
    warnings = []
    for run, run_lines in sorted(runs.items()):
        fallbacks = [f for line in run_lines for f in line.get("fallbacks", [])]
        if fallbacks:
            degraded = sum(1 for line in run_lines if line.get("fallbacks"))
            common = max(sorted(set(fallbacks)), key=fallbacks.count)
            warnings.append(
                f"warning: {run} ran degraded on {degraded} of {len(run_lines)} items; most often: {common}"
            )
    return warnings


async def judge_lines(judge: AnswerJudge, item: BenchmarkItem, lines: list[dict[str, Any]]) -> None:
    """Ask the judge about every prediction the rule rejected (once per distinct prediction); record its verdict
    in every line (``judge``), keep the rule's in ``correct_rule``, and count a "yes" as correct."""
    rejected = sorted({line["prediction"] for line in lines if not line["correct"] and line["prediction"] is not None})
    verdicts = {p: await judge.verdict(item.question, gold=item.answer, prediction=p) for p in rejected}
    for line in lines:
        line["correct_rule"] = line["correct"]
        line["judge"] = verdicts.get(line["prediction"])
        if line["judge"] is not None and line["judge"]["verdict"]:
            line["correct"] = True


async def run_evaluation(
    model: VisionLanguageModel,
    expert: Any,
    items: Sequence[BenchmarkItem],
    settings: EvalSettings,
    results: ResultsFile,
    on_item: Callable[[], None] = lambda: None,
    *,
    expert_model: VisionLanguageModel | None = None,
) -> list[str]:
    """Evaluate the items not yet in `results`; returns the ids evaluated now. `expert_model` (the expert's server as
    a model that samples with log-probs) answers the ``expert`` and ``expert-majority`` methods; asking for them
    without one raises `ExpertRequiredError` before any item is evaluated."""
    require_expert(settings.methods, expert_model)
    done = results.completed_ids()
    todo = [item for item in items if item.id not in done]
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(item: BenchmarkItem) -> str:
        async with gate:
            lines = await evaluate_item(model, expert, item, settings, expert_model)
            await results.append(lines)
        on_item()
        return item.id

    return list(await asyncio.gather(*(one(item) for item in todo)))
