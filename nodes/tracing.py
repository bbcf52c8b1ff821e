"""Model and expert calls as child runs in LangChain traces (LangSmith or any `BaseCallbackHandler`), images redacted.

`TracedModel` wraps a `VisionLanguageModel`: every `sample` and `score` call is reported to the callbacks of the
LangGraph node that made it (``on_chat_model_start`` / ``on_llm_end`` / ``on_llm_error``), with the model's name,
the sampling parameters, the messages, the replies and token usage. Images appear as ``<image: image/png, N bytes>``
unless `include_images` is set: a trace should not carry megabytes of base64 per call. With no callbacks
configured the wrapper costs nothing.

Example:
    >>> model = TracedModel(ScriptedModel([("\\\\boxed{2}", 5.0)]))  # doctest: +SKIP
    >>> graph = create_catts_graph(model)  # create_catts_graph does this itself  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables.config import ensure_config, get_async_callback_manager_for_config

from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, VisionLanguageModel

R = TypeVar("R")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]+);base64,(?P<data>.*)$", re.DOTALL)


def image_placeholder(url: str) -> str:
    """What a trace shows instead of an image: its type and size for data URLs, the URL itself otherwise."""
    match = _DATA_URL.match(url)
    if match is None:
        return url if len(url) <= 200 else url[:200] + "..."
    return f"<image: {match.group('mime')}, {len(match.group('data')) * 3 // 4} bytes>"


def to_langchain(message: Message, *, include_images: bool = True) -> BaseMessage:
    """A domain `Message` as a LangChain message; images become OpenAI-style `image_url` blocks, or a short text
    placeholder each (for traces) when `include_images` is False."""
    if message.role == "system":
        return SystemMessage(content=message.text)
    if message.role == "assistant":
        return AIMessage(content=message.text)
    blocks: list[str | dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": url}}
        if include_images
        else {"type": "text", "text": image_placeholder(url)}
        for url in message.images
    ]
    return HumanMessage(content=[*blocks, {"type": "text", "text": message.text}])


async def traced_call(
    name: str,
    messages: Sequence[Message],
    call: Callable[[], Awaitable[R]],
    replies: Callable[[R], tuple[list[str], dict[str, int]]],
    *,
    invocation: dict[str, Any],
    include_images: bool = False,
) -> R:
    """Run `call` as a chat-model child run of the current LangChain/LangGraph run (if anything is listening).

    `replies` turns the result into the reply texts and the token usage shown in the trace.
    """
    manager = get_async_callback_manager_for_config(ensure_config())
    if not manager.handlers:
        return await call()
    runs = await manager.on_chat_model_start(
        {"name": name},
        [[to_langchain(m, include_images=include_images) for m in messages]],
        name=name,
        invocation_params=invocation,
    )
    try:
        result = await call()
    except BaseException as e:
        for run in runs:
            await run.on_llm_error(e)
        raise
    texts, usage = replies(result)
    generations = [[ChatGeneration(message=AIMessage(content=t)) for t in texts]]
    for run in runs:
        await run.on_llm_end(LLMResult(generations=generations, llm_output={"token_usage": usage, "model_name": name}))
    return result


def _sample_replies(samples: list[Sample]) -> tuple[list[str], dict[str, int]]:
    prompt = samples[0].prompt_tokens if samples else 0
    completion = sum(s.completion_tokens for s in samples)
    return [s.text for s in samples], {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class TracedModel:
    """A `VisionLanguageModel` whose calls show up as child runs (see the module docstring)."""

    def __init__(self, model: VisionLanguageModel, *, include_images: bool = False) -> None:
        self.model = model
        self.include_images = include_images

    def __getattr__(self, attribute: str) -> Any:  # optional capabilities (e.g. contrastive_generate) pass through
        return getattr(self.model, attribute)

    @property
    def name(self) -> str:
        return self.model.name

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        return await traced_call(
            self.name,
            messages,
            lambda: self.model.sample(messages, params),
            _sample_replies,
            invocation={"call": "sample", **dataclasses.asdict(params)},
            include_images=self.include_images,
        )

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        def replies(score: AnswerScore) -> tuple[list[str], dict[str, int]]:
            return [f"{answer}  (mean log-prob {score.mean:.4f})"], {"prompt_tokens": score.prompt_tokens}

        return await traced_call(
            self.name,
            [*messages, Message("assistant", answer)],
            lambda: self.model.score(messages, answer, top_logprobs=top_logprobs),
            replies,
            invocation={"call": "score", "top_logprobs": top_logprobs},
            include_images=self.include_images,
        )
