"""`SelfCheckNode`: visual self-check by contrastive answer scoring under the clean and a noised image.

Server form (METHOD.md 4.3, ours): for each candidate answer a, score its representative response under the clean
image i and the noised twin i' through prompt log-probs, length-normalised (mean token log-prob), and pick
``argmax_a s(a)``, ``s(a) = (1 + alpha) * log P(a | i, q) - alpha * log P(a | i', q)``, among plausible candidates
(``log P(a | i) >= log(beta) + max_a' log P(a' | i)``, the sequence-level form of the plausibility cut-off).
Each candidate's visual dependence ``log P(a | i) - log P(a | i')`` is recorded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from langgraph.runtime import Runtime

from nodes.answers import extract_answer
from nodes.common import emit, question_messages, representative_text, vote_summary
from nodes.config import NoiseConfig, SelfCheckConfig, stage_from_context
from nodes.images import load_image, png_data_url
from nodes.perturb import box_mask, perturb
from nodes.protocol import Message, Sample, VisionLanguageModel
from nodes.relevance import RelevanceModel, question_mask
from nodes.state import CATTSState, Usage, VoteContribution


def noised_data_url(
    data_url: str, noise: NoiseConfig, *, question: str = "", relevance: RelevanceModel | None = None
) -> str:
    """The perturbed twin of an image (given and returned as a data URL).

    With ``noise.region == "question"`` only the patches `relevance` finds most relevant to `question` are perturbed;
    without a relevance model the whole image is (callers record that fallback).
    """
    image = load_image(data_url)
    mask = None
    if noise.region == "box" and noise.box is not None:
        mask = box_mask(image.width, image.height, [noise.box])
    elif noise.region == "question" and relevance is not None:
        mask = question_mask(relevance, image, question, noise.top_fraction)
    noised = perturb(image, noise.kind, noise.level, mask=mask, seed=noise.seed)
    return png_data_url(noised)


def contrastive_pick(
    clean: dict[str, float], noised: dict[str, float], *, alpha: float, beta: float
) -> tuple[str | None, dict[str, float], set[str]]:
    """The self-check's pick, every candidate's contrastive score, and the plausible set (inputs: mean log-probs)."""
    finite = {a: lp for a, lp in clean.items() if math.isfinite(lp)}
    if not finite:
        return None, {}, set()
    best_clean = max(finite.values())
    plausible = {a for a, lp in finite.items() if lp >= math.log(beta) + best_clean}
    scores = {a: (1 + alpha) * clean[a] - alpha * noised[a] for a in finite}
    pick = max(sorted(plausible, key=list(clean).index), key=lambda a: scores[a])
    return pick, scores, plausible


@runtime_checkable
class ContrastiveDecoder(Protocol):
    """A model that can decode step by step on contrastive logits (e.g. `catts_graph.engine.TransformersEngine`)."""

    async def contrastive_generate(
        self, messages: Sequence[Message], noised_images: Sequence[str], *, alpha: float, beta: float, max_tokens: int
    ) -> Sample: ...


class SelfCheckNode:
    """Adds ``tau3`` to the candidate that the clean image supports most over its noised twin (`score` form), or
    to the answer of a step-wise contrastive decode (`decode` form)."""

    def __init__(
        self,
        model: VisionLanguageModel,
        config: SelfCheckConfig | None = None,
        *,
        relevance: RelevanceModel | None = None,
    ):
        self.model = model
        self.config = config or SelfCheckConfig()
        self.relevance = relevance

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "self_check", self.config)
        candidates = list(vote_summary(state)["shares"])[: config.max_candidates]
        if not candidates:
            return {"self_check": None, "fallbacks": ["self_check: no candidate answers; skipped"]}
        clean_messages = question_messages(state)
        noised_urls = await asyncio.to_thread(  # decode, CLIP, perturb, encode: CPU work, kept off the event loop
            lambda: tuple(
                noised_data_url(url, config.noise, question=state["question"], relevance=self.relevance)
                for url in clean_messages[0].images
            )
        )
        fallbacks = []
        if config.noise.region == "question" and self.relevance is None:
            fallbacks.append("self_check: no relevance model for question-guided noise; noised the whole image")
        if config.form == "decode" and isinstance(self.model, ContrastiveDecoder):
            update = await self._decode(state, clean_messages, noised_urls, config)
        else:
            if config.form == "decode":
                name = type(self.model).__name__
                fallbacks.append(f"self_check: {name} cannot decode contrastively; used the score form")
            update = await self._score(state, candidates, clean_messages, noised_urls, config)
        if fallbacks:
            update["fallbacks"] = [*fallbacks, *update.get("fallbacks", [])]
        return update

    async def _decode(
        self, state: CATTSState, messages: list[Message], noised_urls: tuple[str, ...], config: SelfCheckConfig
    ) -> dict[str, Any]:
        assert isinstance(self.model, ContrastiveDecoder)
        sample = await self.model.contrastive_generate(
            messages, noised_urls, alpha=config.alpha, beta=config.beta, max_tokens=config.decode_max_tokens
        )
        pick = extract_answer(sample.text, answer_type=state.get("answer_type"), choices=state.get("choices"))
        usage: Usage = {
            "prompt_tokens": 2 * sample.prompt_tokens,
            "completion_tokens": 2 * sample.completion_tokens,
            "model_calls": 1,
            "expert_calls": 0,
        }
        record = {"form": "decode", "picked": pick, "text": sample.text, "noise": config.noise.model_dump()}
        return _update(state, record, pick, config.tau3, usage, "the contrastive decode had no parseable answer")

    async def _score(
        self,
        state: CATTSState,
        candidates: list[str],
        clean_messages: list[Message],
        noised_urls: tuple[str, ...],
        config: SelfCheckConfig,
    ) -> dict[str, Any]:
        noised_messages = [Message("user", clean_messages[0].text, noised_urls)]
        texts = {a: representative_text(state, a) for a in candidates}
        scores = await asyncio.gather(
            *(
                self.model.score(messages, texts[a])
                for messages in (clean_messages, noised_messages)
                for a in candidates
            )
        )
        clean = {a: s.mean for a, s in zip(candidates, scores[: len(candidates)], strict=True)}
        noised = {a: s.mean for a, s in zip(candidates, scores[len(candidates) :], strict=True)}
        pick, contrast, plausible = contrastive_pick(clean, noised, alpha=config.alpha, beta=config.beta)
        usage: Usage = {
            "prompt_tokens": sum(s.prompt_tokens + len(s.logprobs) for s in scores),
            "completion_tokens": 0,
            "model_calls": len(scores),
            "expert_calls": 0,
        }
        record = {
            "form": "score",
            "picked": pick,
            "noise": config.noise.model_dump(),
            "candidates": [
                {
                    "answer": a,
                    "logp_clean": clean[a],
                    "logp_noised": noised[a],
                    "visual_dependence": clean[a] - noised[a],
                    "score": contrast.get(a, math.nan),
                    "plausible": a in plausible,
                }
                for a in candidates
            ],
        }
        return _update(state, record, pick, config.tau3, usage, "no candidate had a finite clean-image score")


def _update(
    state: CATTSState, record: dict[str, Any], pick: str | None, tau3: float, usage: Usage, no_pick: str
) -> dict[str, Any]:
    """The node's state update: its record, its vote (if it picked an answer), its cost; streamed as an event."""
    votes = {pick: tau3} if pick else None
    contributions: list[VoteContribution] = [{"module": "self_check", "votes": votes}] if votes else []
    update: dict[str, Any] = {
        "self_check": record,
        "contributions": contributions,
        "modules_run": ["self_check"],
        "usage": usage,
    }
    if pick is None:
        update["fallbacks"] = [f"self_check: {no_pick}; no self-check vote"]
    emit({"event": "votes", "after": "self_check", **vote_summary(state, votes)})
    return update
