"""`SelfCheckNode`: visual self-check by contrastive answer scoring under the clean and a noised image.

Server form (METHOD.md 4.3, ours): for each candidate answer a, score its representative response under the clean
image i and the noised twin i' through prompt log-probs, length-normalised (mean token log-prob), and pick
``argmax_a s(a)``, ``s(a) = (1 + alpha) * log P(a | i, q) - alpha * log P(a | i', q)``, among plausible candidates
(``log P(a | i) >= log(beta) + max_a' log P(a' | i)``, the sequence-level form of the plausibility cut-off).
Each candidate's visual dependence ``log P(a | i) - log P(a | i')`` is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import math
from typing import Any

from langgraph.runtime import Runtime

from nodes.common import emit, question_messages, representative_text, vote_summary
from nodes.config import NoiseConfig, SelfCheckConfig, stage_from_context
from nodes.images import encode_png, load_image
from nodes.perturb import box_mask, perturb
from nodes.protocol import Message, VisionLanguageModel
from nodes.state import CATTSState, Usage, VoteContribution


def noised_data_url(data_url: str, noise: NoiseConfig) -> str:
    """The perturbed twin of an image (given and returned as a data URL)."""
    image = load_image(data_url)
    mask = None if noise.box is None else box_mask(image.width, image.height, [noise.box])
    noised = perturb(image, noise.kind, noise.level, mask=mask, seed=noise.seed)
    return "data:image/png;base64," + base64.b64encode(encode_png(noised)).decode("ascii")


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


class SelfCheckNode:
    """Adds ``tau3`` to the candidate that the clean image supports most over its noised twin."""

    def __init__(self, model: VisionLanguageModel, config: SelfCheckConfig | None = None):
        self.model = model
        self.config = config or SelfCheckConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "self_check", self.config)
        candidates = list(vote_summary(state)["shares"])[: config.max_candidates]
        if not candidates:
            return {"self_check": None, "fallbacks": ["self_check: no candidate answers; skipped"]}
        clean_messages = question_messages(state)
        noised_urls = tuple(noised_data_url(url, config.noise) for url in clean_messages[0].images)
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
        contributions: list[VoteContribution] = (
            [{"module": "self_check", "votes": {pick: config.tau3}}] if pick else []
        )
        update: dict[str, Any] = {
            "self_check": record,
            "contributions": contributions,
            "modules_run": ["self_check"],
            "usage": usage,
        }
        if pick is None:
            update["fallbacks"] = ["self_check: no candidate had a finite clean-image score; no self-check vote"]
        emit({"event": "votes", "after": "self_check", **vote_summary(state, {pick: config.tau3} if pick else None)})
        return update
