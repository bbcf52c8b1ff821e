"""`SampleNode`: N completions in one model call, each with its parsed answer and confidences."""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.runtime import Runtime

from nodes.answers import AnswerType, extract_answer
from nodes.common import emit, is_grounded, leader_confidence, question_messages
from nodes.confidence import bottom_percent_confidence, lowest_group_confidence, tail_confidence, token_confidences
from nodes.config import RoutingConfig, SamplingConfig, VoteConfig, stage_from_context
from nodes.protocol import Sample, VisionLanguageModel
from nodes.state import CATTSState, RouteRecord, SampleRecord, Usage
from nodes.vote import sample_weights
from nodes.voting import leader, self_consistency_votes


def sample_record(
    sample: Sample, *, answer_type: AnswerType | None, choices: list[str] | None, window: int
) -> SampleRecord:
    """A sample as state: the parsed answer plus every confidence a vote weighting may use."""
    token_conf = token_confidences([t.top_logprobs for t in sample.tokens])  # (T,)
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
    }


class SampleNode:
    """Draws `sampling.n` responses to the question (image included) in one request.

    Under the `adaptive` routing policy (N >= 4) it draws half of N first, and the rest only when their vote (weighted
    as the vote stage weighs it) does not clear `routing.sampling`; the decision is recorded in `routes`.
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
    ):
        self.model = model
        self.sampling = sampling or SamplingConfig()
        self.vote = vote or VoteConfig()
        self.routing = routing or RoutingConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "sampling", self.sampling)
        vote = stage_from_context(runtime.context, "vote", self.vote)
        routing = stage_from_context(runtime.context, "routing", self.routing)
        messages, params = question_messages(state, grounded=is_grounded(state)), config.params()
        first = (config.n + 1) // 2 if routing.policy == "adaptive" and config.n >= 4 else config.n
        calls = [await self.model.sample(messages, dataclasses.replace(params, n=first))]
        records = [self._record(s, state, vote.window) for s in calls[0]]
        update: dict[str, Any] = {}
        if first < config.n:
            answers = [r["answer"] for r in records]
            answer, share = leader(self_consistency_votes(answers, sample_weights(records, vote.weighting)))
            ok, why = routing.sampling.clears(share, leader_confidence(records, answer))
            decisive = answer is not None and ok
            if not decisive:
                calls.append(await self.model.sample(messages, dataclasses.replace(params, n=config.n - first)))
                records += [self._record(s, state, vote.window) for s in calls[1]]
            verdict = "decisive" if decisive else "not decisive"
            reason = f"drew {len(records)} of {config.n}: {verdict} after {first} ({why})"
            route: RouteRecord = {"after": "sample", "next": "vote", "skipped": [], "reason": reason}
            update["routes"] = [route]
        usage: Usage = {
            "prompt_tokens": sum(c[0].prompt_tokens for c in calls if c),
            "completion_tokens": sum(s.completion_tokens for c in calls for s in c),
            "model_calls": len(calls),
            "expert_calls": 0,
        }
        unparseable = sum(r["answer"] is None for r in records)
        emit({"event": "samples", "n": len(records), "unparseable": unparseable})
        return {"samples": records, "modules_run": ["self_consistency"], "usage": usage, **update}

    @staticmethod
    def _record(sample: Sample, state: CATTSState, window: int) -> SampleRecord:
        return sample_record(sample, answer_type=state.get("answer_type"), choices=state.get("choices"), window=window)
