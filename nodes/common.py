"""Helpers the nodes share: the question as chat messages, the current vote table, representative texts, events."""

from __future__ import annotations

import math
from collections.abc import Sequence

from langgraph.config import get_stream_writer

from nodes.confidence import finite_mean
from nodes.declared import ConfidenceSource, declared_confidences
from nodes.events import StreamEvent, VoteSummary
from nodes.images import data_urls
from nodes.prompts import grounded_prompt, question_prompt
from nodes.protocol import Message
from nodes.state import CATTSInput, CATTSState, SampleRecord
from nodes.voting import leader, shares, sum_contributions


def question_messages(state: CATTSInput, *, grounded: bool = False) -> list[Message]:
    """The base model's prompt: the image(s) and the question (with options), as one user turn; with `grounded`, in
    the grounded format (`nodes.prompts.grounded_prompt`)."""
    prompt = grounded_prompt if grounded else question_prompt
    return [Message("user", prompt(state["question"], state.get("choices")), data_urls(state.get("images") or []))]


def is_grounded(state: CATTSState) -> bool:
    """Whether this run asks the base model for grounded responses (its settings' `grounding.enabled`)."""
    return bool(((state.get("settings") or {}).get("grounding") or {}).get("enabled"))


def vote_table(state: CATTSState) -> dict[str, float]:
    """The current vote table V: the sum of every module's contribution so far."""
    return sum_contributions(c["votes"] for c in state.get("contributions") or [])


def leader_confidence(samples: Sequence[SampleRecord], answer: str | None, source: ConfidenceSource = "nmlp") -> float:
    """Mean declared confidence (`nodes.declared`, of `source`) of the samples that gave `answer` (NaN if none did)."""
    declared = declared_confidences(samples, source)
    return finite_mean(c for s, c in zip(samples, declared, strict=True) if s["answer"] == answer)


def leader_weakest_step(samples: Sequence[SampleRecord], answer: str | None) -> float:
    """Mean weakest-step confidence of the samples that gave `answer` (NaN if none did or none has steps)."""
    return finite_mean(s.get("weakest_step", math.nan) for s in samples if s["answer"] == answer)


def representative_sample(state: CATTSState, answer: str) -> SampleRecord | None:
    """The most confident sample that gave `answer` (None if no sample did)."""
    supporting = [s for s in state.get("samples") or [] if s["answer"] == answer]
    if not supporting:
        return None
    return max(supporting, key=lambda s: s["confidence"] if math.isfinite(s["confidence"]) else -math.inf)


def representative_text(state: CATTSState, answer: str) -> str:
    """The response that best stands for `answer`: its most confident sample, else the critic's re-answer."""
    sample = representative_sample(state, answer)
    if sample is not None:
        return sample["text"]
    critique = state.get("critique") or {}
    if critique.get("answer") == answer and critique.get("reanswer"):
        return str(critique["reanswer"])
    return f"\\boxed{{{answer}}}"


def vote_summary(state: CATTSState, extra: dict[str, float] | None = None) -> VoteSummary:
    """Leader, share and normalised table, for events and routing."""
    table = vote_table(state)
    if extra:
        table = sum_contributions([table, extra])
    answer, share = leader(table)
    return {"leader": answer, "share": share, "shares": shares(table)}


def emit(event: StreamEvent) -> None:
    """Send a custom stream event (`stream_mode="custom"`, one of `nodes.events`); a no-op outside a streaming
    graph run."""
    try:
        writer = get_stream_writer()
    except RuntimeError:
        return
    writer(event)
