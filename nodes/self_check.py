"""`SelfCheckNode`: visual self-check by contrastive answer scoring under the clean and a noised image.

Server form (docs/method.md section 4.3): each candidate answer a is scored under the clean image i and the noised
twin i' through prompt log-probs, and the pick is ``argmax_a s(a)``,
``s(a) = (1 + alpha) * log P(a | i, q) - alpha * log P(a | i', q)``, among plausible candidates
(``P(a | i) >= beta * max_a' P(a' | i)``, on sequence probabilities). What "P(a)" reads is
`SelfCheckConfig.scored` (ours; the spec scores the answer):

- ``answer``: the answer alone, ``\\boxed{a}`` as the whole reply; log P is the sum over the answer's tokens;
- ``answer_given_rationale``: the candidate's representative response, teacher-forced whole; log P is the sum over
  the tokens of its final answer span, so the rationale conditions the answer but is not itself scored;
- ``response``: the whole representative response, length-normalised (mean token log-prob) for the contrast; the
  plausibility cut-off still reads the whole response's sequence probability.

Each candidate's visual dependence ``log P(a | i) - log P(a | i')`` is recorded. A candidate whose clean or noised
score is not finite (NaN, -inf) cannot be picked; it is recorded as unscored.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from langgraph.runtime import Runtime

from nodes.answers import extract_answer, extract_raw_answer
from nodes.common import emit, is_grounded, question_messages, representative_text, vote_summary
from nodes.confidence import answer_span, span_log_prob
from nodes.config import GroundingConfig, NoiseConfig, Scored, SelfCheckConfig
from nodes.declared import declared_log_confidences, run_source
from nodes.fanout import gather_or_cancel
from nodes.grounding import named_boxes
from nodes.images import load_image, png_data_url
from nodes.perturb import box_mask, perturb, pixel_box_mask
from nodes.protocol import AnswerScore, Message, Sample, VisionLanguageModel
from nodes.relevance import RelevanceModel, question_mask
from nodes.run_context import stage_from_context
from nodes.state import CATTSState, Usage, VoteContribution
from nodes.voting import ranked


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
    clean: dict[str, float],
    noised: dict[str, float],
    *,
    alpha: float,
    beta: float,
    sequence: dict[str, float] | None = None,
) -> tuple[str | None, dict[str, float], set[str]]:
    """The self-check's pick, every scorable candidate's contrastive score, and the plausible set.

    `clean`/`noised` are the log-probs the contrast reads; `sequence` the clean sequence log-probs the plausibility
    cut-off reads (default: `clean`). Candidates with a non-finite value anywhere are not scored.

    Example:
        >>> clean, noised = {"2": -1.0, "3": -1.2, "4": -9.0}, {"2": -3.0, "3": -1.1, "4": -20.0}
        >>> pick, scores, plausible = contrastive_pick(clean, noised, alpha=0.5, beta=0.1)
        >>> pick, scores["4"], sorted(plausible)  # "4" is implausible: P("4") < 0.1 * P("2")
        ('2', -3.5, ['2', '3'])
    """
    sequence = clean if sequence is None else sequence
    scorable = [a for a in clean if all(math.isfinite(v.get(a, math.nan)) for v in (clean, noised, sequence))]
    if not scorable:
        return None, {}, set()
    best = max(sequence[a] for a in scorable)
    plausible = {a for a in scorable if sequence[a] >= math.log(beta) + best}
    scores = {a: (1 + alpha) * clean[a] - alpha * noised[a] for a in scorable}
    pick = max(sorted(plausible, key=list(clean).index), key=lambda a: scores[a])
    return pick, scores, plausible


def scored_reply(text: str, answer: str, scored: Scored, grounded: bool = False) -> tuple[str, tuple[int, int] | None]:
    """What the self-check teacher-forces for a candidate and the span of it that holds the answer (None: all).
    The answer alone is ``\\boxed{a}``, or ``<answer>a</answer>`` for a grounded model."""
    if scored == "response":
        return text, None
    if scored == "answer_given_rationale":
        return text, answer_span(text) or (0, len(text))
    raw = extract_raw_answer(text) or answer  # the answer as the model wrote it ("B", "dog", "2.0")
    opening, closing = ("<answer>", "</answer>") if grounded else ("\\boxed{", "}")
    return f"{opening}{raw}{closing}", (len(opening), len(opening) + len(raw))


def candidate_log_probs(score: AnswerScore, span: tuple[int, int] | None) -> tuple[float, float]:
    """(the log-prob the contrast reads, the sequence log-prob the cut-off reads) of one scored reply."""
    if span is None:  # the whole response: length-normalised contrast, sequence-level cut-off
        return score.mean, score.total
    value = span_log_prob(score.tokens, score.logprobs, span)
    return value, value


@runtime_checkable
class ContrastiveDecoder(Protocol):
    """A model that can decode step by step on contrastive logits (e.g. the in-process `TransformersEngine` of
    `catts_graph.serving.engine`)."""

    async def contrastive_generate(
        self, messages: Sequence[Message], noised_images: Sequence[str], *, alpha: float, beta: float, max_tokens: int
    ) -> Sample: ...


class SelfCheckNode:
    """Adds ``tau3`` to the candidate that the clean image supports most over its noised twin (`score` form), or
    to the answer of a step-wise contrastive decode (`decode` form)."""

    def __init__(
        self,
        model: VisionLanguageModel,
        *,
        config: SelfCheckConfig | None = None,
        relevance: RelevanceModel | None = None,
    ):
        self.model = model
        self.config = config or SelfCheckConfig()
        self.relevance = relevance

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "self_check", self.config)
        candidates = ranked(vote_summary(state)["shares"])[: config.max_candidates]
        if not candidates:
            return {"self_check": None, "fallbacks": ["self_check: no candidate answers; skipped"]}
        clean_messages = question_messages(state, grounded=is_grounded(state))
        twins, regions, fallbacks = await asyncio.to_thread(  # decode, CLIP, perturb, encode: CPU work, off the loop
            self._twins, state, clean_messages[0].images, candidates, config.noise
        )
        if config.form == "decode" and isinstance(self.model, ContrastiveDecoder):
            update = await self._decode(state, clean_messages, twins[candidates[0]], config)
        else:
            if config.form == "decode":
                name = type(self.model).__name__
                fallbacks.append(f"self_check: {name} cannot decode contrastively; used the score form")
            update = await self._score(state, candidates, clean_messages, twins, config)
            for entry in update["self_check"]["candidates"]:
                entry["noised_region"] = regions[entry["answer"]]
        if fallbacks:
            update["fallbacks"] = [*fallbacks, *update.get("fallbacks", [])]
        return update

    def _twins(
        self, state: CATTSState, urls: Sequence[str], candidates: list[str], noise: NoiseConfig
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, str], list[str]]:
        """Each candidate's noised twin of the images, where it was noised, and the fallbacks taken.

        Region `model` noises the boxes the candidate's representative response names (one image only); a response
        that names none, or several images, fall back to `question`. Any other region gives every candidate the
        same twin."""
        question, fallbacks = state["question"], []
        regions: dict[str, str] = {a: noise.region for a in candidates}
        model_twins: dict[str, tuple[str, ...]] = {}
        if noise.region == "model":
            if len(urls) == 1:
                model_twins = self._model_twins(state, urls[0], candidates, noise)
            unnamed = [a for a in candidates if a not in model_twins]
            if unnamed:
                why = "name no boxes" if len(urls) == 1 else "cannot ground several images"
                fallbacks.append(f"self_check: the responses for {unnamed} {why}; used question-guided noise")
                regions.update({a: "question" for a in unnamed})
        shared: tuple[str, ...] = ()
        if len(model_twins) < len(candidates):
            if self.relevance is None and noise.region in ("question", "model"):
                fallbacks.append("self_check: no relevance model for question-guided noise; noised the whole image")
            fallback_noise = noise.model_copy(update={"region": "question"}) if noise.region == "model" else noise
            shared = tuple(
                noised_data_url(url, fallback_noise, question=question, relevance=self.relevance) for url in urls
            )
        return {a: model_twins.get(a, shared) for a in candidates}, regions, fallbacks

    def _model_twins(
        self, state: CATTSState, url: str, candidates: list[str], noise: NoiseConfig
    ) -> dict[str, tuple[str, ...]]:
        """The twin of each candidate whose representative response names boxes: noise inside those boxes."""
        frame = GroundingConfig.model_validate((state.get("settings") or {}).get("grounding") or {}).box_frame()
        image = load_image(url)
        width, height = image.size
        twins: dict[str, tuple[str, ...]] = {}
        for answer in candidates:
            boxes = named_boxes(representative_text(state, answer), frame, width, height)
            if boxes:
                mask = pixel_box_mask(width, height, boxes)  # (H, W)
                noised = perturb(image, noise.kind, noise.level, mask=mask, seed=noise.seed)
                twins[answer] = (png_data_url(noised),)
        return twins

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
        twins: dict[str, tuple[str, ...]],
        config: SelfCheckConfig,
    ) -> dict[str, Any]:
        noised_messages = {a: [Message("user", clean_messages[0].text, twins[a])] for a in candidates}
        grounded = is_grounded(state)
        replies = {a: scored_reply(representative_text(state, a), a, config.scored, grounded) for a in candidates}
        scores = await gather_or_cancel(
            *(self.model.score(clean_messages, replies[a][0]) for a in candidates),
            *(self.model.score(noised_messages[a], replies[a][0]) for a in candidates),
        )
        clean_scores, noised_scores = scores[: len(candidates)], scores[len(candidates) :]
        clean, noised, sequence = {}, {}, {}
        for a, c, n in zip(candidates, clean_scores, noised_scores, strict=True):
            clean[a], sequence[a] = candidate_log_probs(c, replies[a][1])
            noised[a], _ = candidate_log_probs(n, replies[a][1])
        if run_source(state) == "stated":  # the cut-off reads the declared confidence (nodes.declared)
            texts = {a: representative_text(state, a) for a in candidates}
            sequence = declared_log_confidences(state.get("samples") or [], texts)
        pick, contrast, plausible = contrastive_pick(
            clean, noised, alpha=config.alpha, beta=config.beta, sequence=sequence
        )
        usage: Usage = {
            "prompt_tokens": sum(s.prompt_tokens + len(s.logprobs) for s in scores),
            "completion_tokens": 0,
            "model_calls": len(scores),
            "expert_calls": 0,
        }
        record = {
            "form": "score",
            "scored": config.scored,
            "picked": pick,
            "noise": config.noise.model_dump(),
            "candidates": [
                {
                    "answer": a,
                    "logp_clean": clean[a],
                    "logp_noised": noised[a],
                    "logp_sequence": sequence[a],
                    "visual_dependence": clean[a] - noised[a],
                    "score": contrast.get(a, math.nan),
                    "scored": a in contrast,
                    "plausible": a in plausible,
                }
                for a in candidates
            ],
        }
        unscored = [a for a in candidates if a not in contrast]
        update = _update(state, record, pick, config.tau3, usage, "no candidate had finite clean and noised scores")
        if unscored and pick is not None:
            update["fallbacks"] = [f"self_check: no finite score for {unscored}; they could not be picked"]
        return update


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
