"""`VoteNode`: confidence-weighted self-consistency, plus the expert as Voter (docs/method.md section 4.1)."""

from __future__ import annotations

import math
from typing import Any

from langgraph.runtime import Runtime

from nodes.answers import extract_answer, normalize_answer
from nodes.common import emit, question_messages, representative_text, vote_summary
from nodes.config import VoteConfig
from nodes.declared import ConfidenceSource, declared_confidences, resolve_source, run_source
from nodes.errors import is_service_fault
from nodes.expert import Expert, ExpertReply, ScoringExpert
from nodes.images import data_urls
from nodes.parsing import parse_voter_reply
from nodes.prompts import voter_prompt
from nodes.protocol import Message
from nodes.run_context import stage_from_context
from nodes.state import CATTSState, ExpertAnswer, SampleRecord, Usage, VoteContribution, empty_usage
from nodes.voting import Weighting, self_consistency_votes

_WEIGHT_FIELD: dict[Weighting, str] = {
    "confidence": "confidence",
    "probability": "probability",
    "tail": "tail_confidence",
    "bottom_window": "bottom_window_confidence",
    "lowest_window": "lowest_window_confidence",
    "weakest_step": "weakest_step",
}


def sample_weights(
    samples: list[SampleRecord], weighting: Weighting, source: ConfidenceSource = "nmlp"
) -> list[float]:
    """Each sample's vote weight under `weighting` (NaN where the confidence is undefined); the `confidence`
    weighting reads the declared confidence of `source` (`nodes.declared`)."""
    if weighting == "majority":
        return [1.0] * len(samples)
    if weighting == "confidence":
        return declared_confidences(samples, source)
    field = _WEIGHT_FIELD[weighting]
    return [float(s[field]) for s in samples]  # type: ignore[literal-required]


def reply_usage(reply: ExpertReply) -> Usage:
    """The cost of one expert call."""
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "model_calls": 0,
            "expert_calls": 1}  # fmt: skip


async def ask_own_answer(expert: Expert, state: CATTSState, *, max_tokens: int) -> tuple[ExpertAnswer, Usage]:
    """The expert's own answer to the plain question (the answer-form Voter's, and the sequential stopping rule's
    vote) and the call's cost; the expert's errors propagate."""
    reply = await expert.complete(question_messages(state), max_tokens=max_tokens)
    answer = extract_answer(reply.text, answer_type=state.get("answer_type"), choices=state.get("choices"))
    return {"text": reply.text, "answer": answer}, reply_usage(reply)


class VoteNode:
    """Adds the self-consistency vote ``V_int`` and, when enabled, the Voter's ``tau1 * p_a`` to the vote table.

    It resolves the run's declared confidence (`nodes.declared`: ``auto`` becomes ``stated`` or ``nmlp`` by what the
    samples show) and records the source in force in the run's `settings`, where the gate and the self-check read it.

    An unparseable or failed Voter reply contributes nothing; the fallback is recorded in `fallbacks`.
    """

    def __init__(self, expert: Expert | None, *, config: VoteConfig | None = None):
        self.expert = expert
        self.config = config or VoteConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "vote", self.config)
        samples = state.get("samples") or []
        source = resolve_source(samples, run_source(state))  # resolved once per run, here; the later nodes read it
        weights = sample_weights(samples, config.weighting, source)
        internal = self_consistency_votes([s["answer"] for s in samples], weights)
        contributions: list[VoteContribution] = [{"module": "self_consistency", "votes": internal}]
        update: dict[str, Any] = {"contributions": contributions}
        settings = state.get("settings")
        if settings is not None and (settings.get("confidence") or {}).get("source") != source:
            update["settings"] = {**settings, "confidence": {**(settings.get("confidence") or {}), "source": source}}
        if any(
            a is not None and not math.isfinite(w)
            for a, w in zip((s["answer"] for s in samples), weights, strict=True)
        ):
            update["fallbacks"] = [f"vote: some {config.weighting} weights were undefined (NaN) and did not count"]
        if config.voter and self.expert is not None and len(internal) > 1:
            probs, usage, fallback = await self._ask_voter(state, list(internal), config)
            if probs is not None:
                contributions.append({"module": "voter", "votes": {a: config.tau1 * p for a, p in probs.items()}})
            if fallback:
                update["fallbacks"] = [*update.get("fallbacks", []), fallback]
            update["usage"] = usage
            update["modules_run"] = ["voter"]
        emit({"event": "votes", "after": "vote", **vote_summary({"contributions": contributions})})
        return update

    async def _ask_voter(
        self, state: CATTSState, candidates: list[str], config: VoteConfig
    ) -> tuple[dict[str, float] | None, Usage, str | None]:
        assert self.expert is not None
        if config.voter_form == "score" and isinstance(self.expert, ScoringExpert):
            return await self._score_voter(state, candidates, config)
        fallback = (
            f"voter: {self.expert.name} cannot score responses; used the text form"
            if config.voter_form == "score"
            else None
        )
        asked = state.get("expert_answer")
        if config.voter_form == "answer" and asked is not None:  # the stopping rule asked already: no second call
            return self._own_answer_votes(asked["answer"], candidates, empty_usage())
        try:
            if config.voter_form == "answer":  # the plain question: the expert's own answer gets probability 1
                own, usage = await ask_own_answer(self.expert, state, max_tokens=config.voter_max_tokens)
                return self._own_answer_votes(own["answer"], candidates, usage)
            prompt = voter_prompt(state["question"], candidates, state.get("choices"))
            messages = [Message("user", prompt, data_urls(state.get("images") or []))]
            reply = await self.expert.complete(messages, max_tokens=config.voter_max_tokens)
        except Exception as e:  # the expert is optional: a service fault degrades, recorded
            if not is_service_fault(e):
                raise  # a bug in the expert's code: not a fault to degrade around
            failed: Usage = {**empty_usage(), "expert_calls": 1}
            return None, failed, f"voter: expert call failed ({type(e).__name__}: {e}); no voter votes"
        usage = reply_usage(reply)

        def normalize(text: str) -> str | None:
            return normalize_answer(text, state.get("answer_type"), state.get("choices"))

        probs = parse_voter_reply(reply.text, candidates, normalize)
        if probs is None:
            return None, usage, f"voter: unparseable reply {reply.text[:80]!r}; no voter votes"
        return probs, usage, fallback

    @staticmethod
    def _own_answer_votes(
        own: str | None, candidates: list[str], usage: Usage
    ) -> tuple[dict[str, float] | None, Usage, str | None]:
        """The answer-form Voter: probability 1 for the expert's own answer, if it is a candidate."""
        if own not in candidates:
            return None, usage, f"voter: the expert's own answer {own!r} is not a candidate; no voter votes"
        return {a: float(a == own) for a in candidates}, usage, None

    async def _score_voter(
        self, state: CATTSState, candidates: list[str], config: VoteConfig
    ) -> tuple[dict[str, float] | None, Usage, str | None]:
        """p_a = softmax_a(mean log P_expert(response_a | image, question) / T), response_a the sample that best
        stands for candidate a (the expert judges the base model's own rationale and answer)."""
        assert isinstance(self.expert, ScoringExpert)
        responses = [representative_text(state, a) for a in candidates]
        try:
            means = await self.expert.score_responses(question_messages(state), responses)
        except Exception as e:  # the expert is optional: a service fault degrades, recorded
            if not is_service_fault(e):
                raise  # a bug in the expert's code: not a fault to degrade around
            failed: Usage = {**empty_usage(), "expert_calls": len(candidates)}
            return None, failed, f"voter: expert scoring failed ({type(e).__name__}: {e}); no voter votes"
        usage: Usage = {**empty_usage(), "expert_calls": len(candidates)}
        finite = {a: m for a, m in zip(candidates, means, strict=True) if math.isfinite(m)}
        if not finite:
            return None, usage, "voter: the expert gave no finite score to any candidate; no voter votes"
        top = max(finite.values())
        weights = {a: math.exp((m - top) / config.voter_temperature) for a, m in finite.items()}  # stable softmax
        total = sum(weights.values())
        return {a: weights.get(a, 0.0) / total for a in candidates}, usage, None
