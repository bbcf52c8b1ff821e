"""Fan-out inside the nodes: the self-check scores the top of the vote table, and a failed call cancels its
siblings before the node's error propagates (no orphaned requests under a node retry)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.errors import TransientModelError
from nodes.fanout import gather_or_cancel
from nodes.protocol import AnswerScore, Message
from nodes.testing import ScriptedExpert, ScriptedModel


async def test_the_self_check_scores_the_top_of_the_vote_table(image: str) -> None:
    # the samples put "2" first; the critic's re-answer "3" (tau2 = 1) then leads the table: 0.9 vs 0.1 + 1.0
    model = ScriptedModel([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)], greedy="\\boxed{3}")
    config = CATTSConfig.model_validate(
        {"sampling": {"n": 2}, "vote": {"voter": False}, "critic": {"tau2": 1.0},
         "self_check": {"max_candidates": 1, "noise": {"region": "global"}}}
    )  # fmt: skip
    graph = create_catts_graph(model, expert=ScriptedExpert(), config=config)
    await graph.ainvoke({"question": "How many?", "images": [image]})
    assert {c.answer for c in model.calls if c.kind == "score"} == {"\\boxed{3}"}


@dataclass
class HangingScores(ScriptedModel):
    """Scoring `failing` fails at once; every other score waits until cancelled (and counts the cancellation)."""

    failing: str = "\\boxed{3}"
    cancelled: list[str] = field(default_factory=list)

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        if answer == self.failing:
            await asyncio.sleep(0.01)
            raise TransientModelError("scripted: the server dropped the request")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.append(answer)
            raise
        raise AssertionError("not cancelled")


async def test_a_failed_score_cancels_its_siblings(image: str) -> None:
    model = HangingScores([("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)])
    config = CATTSConfig.model_validate(
        {"sampling": {"n": 2}, "vote": {"voter": False}, "critic": {"enabled": False},
         "self_check": {"noise": {"region": "global"}}}
    )  # fmt: skip
    graph = create_catts_graph(model, config=config, retry=_no_retry())
    with pytest.raises(TransientModelError):
        await asyncio.wait_for(graph.ainvoke({"question": "How many?", "images": [image]}), timeout=20)
    assert model.cancelled == ["\\boxed{2}", "\\boxed{2}"]  # the clean and the noised score of the other candidate


@dataclass
class SlowExpert(ScriptedExpert):
    cancelled: bool = False

    async def complete(self, messages: Sequence[Message], *, max_tokens: int):  # type: ignore[no-untyped-def]
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("not cancelled")


async def test_a_failed_draw_cancels_the_experts_answer(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 9.0)], errors=[TransientModelError("scripted: first round lost")])
    expert = SlowExpert()
    config = CATTSConfig.model_validate({"sampling": {"n": 4}, "routing": {"policy": "sequential"}})
    graph = create_catts_graph(model, expert=expert, config=config, retry=_no_retry())
    with pytest.raises(TransientModelError):
        await asyncio.wait_for(graph.ainvoke({"question": "How many?", "images": [image]}), timeout=20)
    assert expert.cancelled


async def test_gather_or_cancel_returns_in_order_and_raises_the_first_failure_as_it_is() -> None:
    assert await gather_or_cancel(asyncio.sleep(0.02, result="a"), asyncio.sleep(0, result="b")) == ["a", "b"]

    async def fail() -> str:
        raise ValueError("first")

    with pytest.raises(ValueError, match="first"):
        await gather_or_cancel(fail(), asyncio.sleep(5, result="never"))


def _no_retry():  # type: ignore[no-untyped-def]
    from langgraph.types import RetryPolicy

    return RetryPolicy(max_attempts=1)
