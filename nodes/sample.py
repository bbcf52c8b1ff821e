"""`SampleNode`: N completions in one model call, each with its parsed answer and confidences."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Sequence
from typing import Any, cast

from langgraph.runtime import Runtime

from nodes.answers import AnswerType, extract_answer
from nodes.common import emit, is_grounded, leader_confidence, leader_weakest_step, question_messages
from nodes.confidence import bottom_percent_confidence, lowest_group_confidence, tail_confidence, token_confidences
from nodes.config import RoutingConfig, SamplingConfig, StepConfig, VoteConfig
from nodes.declared import ConfidenceSource, run_elicit, run_source
from nodes.elicit import elicit_under_stated, statement_stop
from nodes.errors import is_service_fault
from nodes.expert import Expert
from nodes.fanout import gather_or_cancel
from nodes.images import load_image
from nodes.protocol import Sample, VisionLanguageModel
from nodes.run_context import stage_from_context
from nodes.state import CATTSState, ExpertAnswer, RouteRecord, SampleRecord, Usage, add_usage, empty_usage
from nodes.stated import declared_answer_confidence
from nodes.steps import ImageTextModel, split_steps, step_records, step_summary, weakest_step
from nodes.stopping import draw_rounds, settled, vote_counts
from nodes.vote import ask_own_answer, sample_weights
from nodes.voting import Weighting, leader, self_consistency_votes


def sample_record(
    sample: Sample,
    *,
    answer_type: AnswerType | None,
    choices: list[str] | None,
    window: int,
    steps: StepConfig | None = None,
    visual: Sequence[float] | None = None,
) -> SampleRecord:
    """A sample as state: the parsed answer, every confidence a vote weighting may use, and its reasoning steps
    (cut by `steps.splitter`) with their confidences; `visual` is each step's image agreement, if measured."""
    config = steps or StepConfig()
    stated = declared_answer_confidence(sample.text, sample.tokens)  # its expected value where the tokens tell
    token_conf = token_confidences([t.top_logprobs for t in sample.tokens])  # (T,)
    step_list = step_records(
        [t.token for t in sample.tokens],
        [t.logprob for t in sample.tokens],
        [t.top_logprobs for t in sample.tokens],
        split_steps(sample.text, config.splitter),
        visual=visual,
        weights=config.weights,
        bias=config.bias,
    )
    return {
        "text": sample.text,
        "answer": extract_answer(sample.text, answer_type=answer_type, choices=choices),
        "confidence": sample.confidence,
        "probability": sample.probability,
        "answer_probability": sample.answer_probability,
        "tail_confidence": tail_confidence(token_conf, window),
        "bottom_window_confidence": bottom_percent_confidence(token_conf, window),
        "lowest_window_confidence": lowest_group_confidence(token_conf, window),
        "completion_tokens": sample.completion_tokens,
        "finish_reason": sample.finish_reason,
        "steps": step_list,
        "weakest_step": weakest_step(step_list),
        "stated_confidence": stated,
        "stated_from": "written" if math.isfinite(stated) else "",
    }


async def visual_agreement(
    model: ImageTextModel, images: Sequence[str], texts: list[list[str]]
) -> list[list[float]] | None:
    """Per response, each step's agreement with the images (the best over images), or None without images."""
    if not images:
        return None
    flat = [text for row in texts for text in row]
    if not flat:
        return [[] for _ in texts]

    def measure() -> list[float]:
        scores = [model.agreement(load_image(image), flat) for image in images]  # (I, S)
        return [max(column) for column in zip(*scores, strict=True)]  # (S,)

    best, out, start = await asyncio.to_thread(measure), [], 0
    for row in texts:
        out.append(best[start : start + len(row)])
        start += len(row)
    return out


def sampling_rounds(routing: RoutingConfig, n: int) -> list[int]:
    """How many samples each round draws: all N at once (`paper`), half then the rest (`adaptive`, N >= 4), or
    doubling rounds (`sequential`, `nodes.stopping.draw_rounds`)."""
    if routing.policy == "sequential":
        return draw_rounds(n, first=routing.stop.first)
    if routing.policy == "adaptive" and n >= 4:
        return [(n + 1) // 2, n // 2]
    return [n]


def enough_drawn(
    routing: RoutingConfig,
    records: Sequence[SampleRecord],
    weighting: Weighting,
    expert: str | None = None,
    source: ConfidenceSource = "auto",
) -> tuple[bool, str]:
    """Whether the samples drawn so far (weighted as the vote stage weighs them) and, under `sequential`, the
    expert's own answer settle the vote, and why."""
    answers = [r["answer"] for r in records]
    table = self_consistency_votes(answers, sample_weights(list(records), weighting, source))
    answer, share = leader(table)
    if routing.policy == "sequential":
        rule = routing.stop
        parsed = sum(a is not None for a in answers)
        counts = vote_counts(table, parsed=parsed, expert=expert, expert_weight=rule.expert_weight)
        if not counts:
            return False, "no parseable answer yet"
        ok, why = settled(counts, prior=rule.prior, threshold=rule.threshold)
        if ok and rule.min_weakest_step is not None:  # the leader of the counts, the expert's answer included
            weakest = leader_weakest_step(records, max(counts, key=lambda a: counts[a]))
            ok = math.isfinite(weakest) and weakest >= rule.min_weakest_step
            why += f", weakest step {weakest:.3f} {'>=' if ok else '<'} {rule.min_weakest_step:g}"
        return ok, why
    if answer is None:
        return False, "no parseable answer yet"
    confidence = leader_confidence(records, answer, source)
    return routing.sampling.clears(share, confidence, leader_weakest_step(records, answer))


class SampleNode:
    """Draws `sampling.n` responses to the question (image included) in one request.

    Every sample carries its reasoning steps and their confidences (`steps`); with an `image_text` model each
    step's text is also scored against the image (the `visual` signal). Under the `adaptive` routing policy (N >= 4)
    it draws half of N first, and the rest only when their vote (weighted as the vote stage weighs it) does not
    clear `routing.sampling`; under `sequential` it draws doubling rounds (totals `first`, 2 `first`, 4 `first`,
    ... up to N) until `routing.stop` says the leader is settled, counting the `expert`'s own answer (asked beside
    the first round) when the rule weighs it. The decision is recorded in `routes` and streamed as a route event.
    Writes `samples`, `modules_run`, `routes` and `usage`. Unparseable responses are kept with `answer=None`.

    Example:
        >>> node = SampleNode(model, sampling=SamplingConfig(n=8))  # doctest: +SKIP
        >>> builder.add_node("sample", node)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: VisionLanguageModel,
        *,
        sampling: SamplingConfig | None = None,
        vote: VoteConfig | None = None,
        routing: RoutingConfig | None = None,
        steps: StepConfig | None = None,
        image_text: ImageTextModel | None = None,
        expert: Expert | None = None,
    ):
        self.model = model
        self.expert = expert
        self.sampling = sampling or SamplingConfig()
        self.vote = vote or VoteConfig()
        self.routing = routing or RoutingConfig()
        self.steps = steps or StepConfig()
        self.image_text = image_text

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "sampling", self.sampling)
        vote = stage_from_context(runtime.context, "vote", self.vote)
        routing = stage_from_context(runtime.context, "routing", self.routing)
        steps = stage_from_context(runtime.context, "steps", self.steps)
        messages = question_messages(state, grounded=is_grounded(state))
        elicit = run_elicit(state)  # under `all` the samples stop where the statement opens
        params = statement_stop(config.params(), elicit)
        rounds = sampling_rounds(routing, config.n)
        calls: list[list[Sample]] = []
        records: list[SampleRecord] = []
        stop, why, checked = False, "", 0
        update: dict[str, Any] = {}
        ask_expert = (  # only where a round is left to save
            routing.policy == "sequential" and routing.stop.expert_weight > 0 and self.expert is not None
            and len(rounds) > 1
        )  # fmt: skip
        own: ExpertAnswer | None = None
        for size in rounds:
            draw = self.model.sample(messages, dataclasses.replace(params, n=size))
            if ask_expert and not calls:  # the expert answers the plain question while the first round is drawn
                first, asked = await gather_or_cancel(draw, self._ask_expert(state, vote))
                own, expert_update = cast(tuple[ExpertAnswer | None, dict[str, Any]], asked)
                calls.append(cast(list[Sample], first))
                update |= expert_update
            else:
                calls.append(await draw)
            records += await self._records(calls[-1], state, vote.window, steps)
            records, elicited = await elicit_under_stated(self.model, messages, records, run_source(state), elicit)
            update["usage"] = add_usage(update.get("usage"), elicited)
            if len(calls) == len(rounds):
                break
            expert = None if own is None else own["answer"]
            source = run_source(state)  # the declared confidence, detected on the samples drawn so far under auto
            (stop, why), checked = enough_drawn(routing, records, vote.weighting, expert, source), len(records)
            if stop:
                break
        if len(rounds) > 1:
            verdict = "decisive" if stop else "not decisive"
            reason = f"drew {len(records)} of {config.n}: {verdict} after {checked} ({why})"
            route: RouteRecord = {"after": "sample", "next": "vote", "skipped": [], "reason": reason}
            update["routes"] = [route]
            answer, share = leader(
                self_consistency_votes(
                    [r["answer"] for r in records], sample_weights(records, vote.weighting, run_source(state))
                )
            )
            emit({"event": "route", **route, "leader": answer, "share": share,
                  "confidence": leader_confidence(records, answer, run_source(state))})  # fmt: skip
        usage: Usage = add_usage(
            update.pop("usage", empty_usage()),
            {
                "prompt_tokens": sum(c[0].prompt_tokens for c in calls if c),
                "completion_tokens": sum(s.completion_tokens for c in calls for s in c),
                "model_calls": len(calls),
                "expert_calls": 0,
            },
        )
        unparseable = sum(r["answer"] is None for r in records)
        emit({"event": "samples", "n": len(records), "unparseable": unparseable})
        emit({"event": "steps", "samples": [[step_summary(s) for s in r["steps"]] for r in records]})
        return {"samples": records, "modules_run": ["self_consistency"], "usage": usage, **update}

    async def _ask_expert(self, state: CATTSState, vote: VoteConfig) -> tuple[ExpertAnswer | None, dict[str, Any]]:
        """The expert's own answer to the plain question, and the state update that records it (its cost, or the
        fallback when the call fails: the rule then counts the samples alone)."""
        assert self.expert is not None
        try:
            own, usage = await ask_own_answer(self.expert, state, max_tokens=vote.voter_max_tokens)
        except Exception as e:  # the expert is optional: a service fault degrades, recorded
            if not is_service_fault(e):
                raise  # a bug in the expert's code: not a fault to degrade around
            fallback = f"stop rule: expert call failed ({type(e).__name__}: {e}); the samples decide alone"
            return None, {"fallbacks": [fallback], "usage": {**empty_usage(), "expert_calls": 1}}
        return own, {"expert_answer": own, "usage": usage}

    async def _records(
        self, samples: list[Sample], state: CATTSState, window: int, steps: StepConfig
    ) -> list[SampleRecord]:
        visual: list[list[float]] | list[None] = [None] * len(samples)
        if self.image_text is not None and steps.weights.get("visual", 0.0) != 0:
            texts = [[step.text for step in split_steps(s.text, steps.splitter)] for s in samples]
            visual = await visual_agreement(self.image_text, state.get("images") or [], texts) or visual
        answer_type, choices = state.get("answer_type"), state.get("choices")
        return [
            sample_record(s, answer_type=answer_type, choices=choices, window=window, steps=steps, visual=v)
            for s, v in zip(samples, visual, strict=True)
        ]
