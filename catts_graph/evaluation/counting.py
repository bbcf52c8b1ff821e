"""Tokens each model processed, counted where the graph calls it: the base model and the expert apart.

The graph's own `usage` sums both models' tokens; compute (parameters x tokens) needs them apart, so `catts eval`
wraps the base model and the expert of each graph run in counters. A request counts its prompt once (a request for
N samples shares one prompt, as the harness counts it) and every completion token, as the server reports them; a
scoring request counts the prompt and the scored answer.

Example:
    >>> counter = TokenCounter()
    >>> counter.add_reply(ExpertReply("7", prompt_tokens=20, completion_tokens=3))
    >>> counter.tokens
    23
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from nodes.expert import ChatModelExpert, Expert, ExpertReply, ScoringExpert
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, VisionLanguageModel


@dataclass
class TokenCounter:
    """Prompt plus completion tokens of every request one model answered."""

    tokens: int = 0

    def add_samples(self, samples: Sequence[Sample]) -> None:
        if samples:
            self.tokens += samples[0].prompt_tokens + sum(s.completion_tokens for s in samples)

    def add_score(self, score: AnswerScore) -> None:
        self.tokens += score.prompt_tokens + len(score.logprobs)

    def add_reply(self, reply: ExpertReply) -> None:
        self.tokens += reply.prompt_tokens + reply.completion_tokens


class CountingModel:
    """A `VisionLanguageModel` that counts the tokens of every request it passes on; optional capabilities of the
    wrapped model (e.g. ``contrastive_generate``) pass through uncounted."""

    def __init__(self, model: VisionLanguageModel, counter: TokenCounter) -> None:
        self.model = model
        self.counter = counter

    @property
    def name(self) -> str:
        return self.model.name

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        samples = await self.model.sample(messages, params)
        self.counter.add_samples(samples)
        return samples

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        score = await self.model.score(messages, answer, top_logprobs=top_logprobs)
        self.counter.add_score(score)
        return score

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.model, attribute)


class CountingExpert:
    """An `Expert` whose replies' tokens are counted."""

    def __init__(self, expert: Expert, counter: TokenCounter) -> None:
        self.expert = expert
        self.counter = counter

    @property
    def name(self) -> str:
        return self.expert.name

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply:
        reply = await self.expert.complete(messages, max_tokens=max_tokens)
        self.counter.add_reply(reply)
        return reply


class CountingScoringExpert(CountingExpert):
    """A `ScoringExpert` whose replies are counted; its scoring calls report no tokens and are not counted."""

    async def score_responses(self, messages: Sequence[Message], responses: Sequence[str]) -> list[float]:
        assert isinstance(self.expert, ScoringExpert)
        return await self.expert.score_responses(messages, responses)


def counting_expert(expert: Any, counter: TokenCounter) -> Any:
    """`expert` as `create_catts_graph` takes it, with its tokens counted in `counter`. None (the base model is its
    own expert) stays None: those calls reach the base model and count there."""
    if expert is None:
        return None
    if isinstance(expert, VisionLanguageModel):  # a served expert: its sampling and scoring requests are counted
        return CountingModel(expert, counter)
    if isinstance(expert, BaseChatModel):
        expert = ChatModelExpert(expert)
    if isinstance(expert, ScoringExpert):
        return CountingScoringExpert(expert, counter)
    return CountingExpert(expert, counter)
