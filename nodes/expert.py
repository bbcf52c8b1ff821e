"""The expert in its three roles (Planner, Voter, Critic): any LangChain chat model, or the base model itself.

`as_expert` accepts a LangChain `BaseChatModel` (e.g. `ChatOpenAI(base_url=...)` pointed at a second vLLM server or
any OpenAI-compatible API), a `VisionLanguageModel` (the base model: "expert = the base model itself"), or an
object already implementing `Expert`. Every expert request carries the image(s) as data URLs. Replies are
truncated to `MAX_REPLY_CHARS` and parsed as data by the caller. `with_retries` retries transient expert faults with
the same backoff as base-model calls; a fault that outlives them raises `ExpertUnavailableError`, which the roles
record as a fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.types import RetryPolicy
from langsmith import tracing_context

from nodes.errors import ExpertUnavailableError, is_service_fault, is_transient
from nodes.fanout import gather_or_cancel
from nodes.parsing import MAX_REPLY_CHARS
from nodes.protocol import Message, SamplingParams, VisionLanguageModel
from nodes.tracing import to_langchain, traced_call


@dataclass(frozen=True)
class ExpertReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class Expert(Protocol):
    """Completes a chat deterministically (the expert roles need one considered reply, not samples)."""

    @property
    def name(self) -> str: ...

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply: ...


@runtime_checkable
class ScoringExpert(Expert, Protocol):
    """An expert that can also score given responses (teacher forcing): the Voter then reads its likelihoods."""

    async def score_responses(self, messages: Sequence[Message], responses: Sequence[str]) -> list[float]:
        """The mean token log-prob of each response after `messages`."""
        ...


class BaseModelExpert:
    """A `VisionLanguageModel` in the expert roles (the base model itself, or a second served model): greedy
    decoding through the model protocol, and likelihood scoring for the Voter."""

    def __init__(self, model: VisionLanguageModel) -> None:
        self.model = model

    @property
    def name(self) -> str:
        return self.model.name

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply:
        params = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens, top_logprobs=0)
        sample = (await self.model.sample(messages, params))[0]
        return ExpertReply(sample.text[:MAX_REPLY_CHARS], sample.prompt_tokens, sample.completion_tokens)

    async def score_responses(self, messages: Sequence[Message], responses: Sequence[str]) -> list[float]:
        scores = await gather_or_cancel(*(self.model.score(messages, r) for r in responses))
        return [s.mean for s in scores]


class ChatModelExpert:
    """A LangChain chat model in the expert roles. Its calls appear as child runs in LangChain/LangSmith traces:
    its own runs with `include_images`, else a run of ours with the images redacted (`nodes.tracing`)."""

    def __init__(self, chat_model: BaseChatModel, *, include_images: bool = False) -> None:
        self.chat_model = chat_model
        self.include_images = include_images

    @property
    def name(self) -> str:
        return str(getattr(self.chat_model, "model_name", None) or type(self.chat_model).__name__)

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply:
        bound = (
            self.chat_model.bind(max_tokens=max_tokens) if _accepts_max_tokens(self.chat_model) else self.chat_model
        )
        chat = [to_langchain(m) for m in messages]
        if self.include_images:
            return _reply(await bound.ainvoke(chat))

        async def untraced() -> ExpertReply:
            with tracing_context(enabled=False):  # no LangSmith run of its own (it would carry the images) ...
                return _reply(await bound.ainvoke(chat, config={"callbacks": []}))

        return await traced_call(  # ... but ours, with the images redacted
            self.name,
            messages,
            untraced,
            lambda r: ([r.text], {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}),
            invocation={"call": "expert", "max_tokens": max_tokens},
        )


def _reply(reply: BaseMessage) -> ExpertReply:
    content = reply.content if isinstance(reply.content, str) else _text_of(reply.content)
    usage = getattr(reply, "usage_metadata", None) or {}
    return ExpertReply(
        content[:MAX_REPLY_CHARS], int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    )


def _accepts_max_tokens(chat_model: BaseChatModel) -> bool:
    return "max_tokens" in type(chat_model).model_fields


def _text_of(content: list[str | dict[str, Any]]) -> str:
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def as_expert(
    expert: Expert | BaseChatModel | VisionLanguageModel | None,
    base_model: VisionLanguageModel,
    *,
    include_images: bool = False,
) -> Expert:
    """Wrap whatever the caller passed as the expert; None means the base model itself."""
    if expert is None:
        return BaseModelExpert(base_model)
    if isinstance(expert, BaseChatModel):
        return ChatModelExpert(expert, include_images=include_images)
    if isinstance(expert, Expert):
        return expert
    if isinstance(expert, VisionLanguageModel):
        return BaseModelExpert(expert)
    raise TypeError(
        f"expert must be a LangChain chat model, a VisionLanguageModel or an Expert, got {type(expert).__name__}"
    )


T = TypeVar("T")


class RetryingExpert:
    """`expert` with its transient faults (`nodes.errors.is_transient`) retried under `retry` (LangGraph's
    `RetryPolicy`: attempts, first interval, backoff factor, cap; its `retry_on` is not used). The last fault, or
    the first service fault that is not transient, raises `ExpertUnavailableError`; an error that is no service
    fault (`nodes.errors.is_service_fault`: a bug in the expert's code) is raised as it is."""

    def __init__(self, expert: Expert, retry: RetryPolicy) -> None:
        self.expert = expert
        self.retry = retry

    @property
    def name(self) -> str:
        return self.expert.name

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply:
        return await self._with_retries(lambda: self.expert.complete(messages, max_tokens=max_tokens))

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        interval = self.retry.initial_interval
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return await call()
            except Exception as e:
                if not is_service_fault(e):
                    raise  # a bug in the expert's code surfaces as it is
                if attempt == self.retry.max_attempts or not is_transient(e):
                    raise ExpertUnavailableError(self.name, attempt, e) from e
            await asyncio.sleep(interval)
            interval = min(interval * self.retry.backoff_factor, self.retry.max_interval)
        raise AssertionError("unreachable: max_attempts >= 1")


class RetryingScoringExpert(RetryingExpert):
    """`RetryingExpert` for an expert that can also score responses."""

    expert: ScoringExpert

    async def score_responses(self, messages: Sequence[Message], responses: Sequence[str]) -> list[float]:
        return await self._with_retries(lambda: self.expert.score_responses(messages, responses))


def with_retries(expert: Expert, retry: RetryPolicy) -> Expert:
    """`expert` with transient faults retried under `retry`; keeps the scoring role when it has one."""
    if isinstance(expert, ScoringExpert):
        return RetryingScoringExpert(expert, retry)
    return RetryingExpert(expert, retry)
