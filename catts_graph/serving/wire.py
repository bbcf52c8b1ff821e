"""Wire formats of vLLM's OpenAI-compatible chat API: request bodies and response models.

Only the fields this project reads are modelled; unknown fields are accepted and dropped unparsed (the protocol is
open, and a sampling response carries every top log-prob's `bytes`, which would otherwise be built into Python
lists on every call). Conversion to and from domain types (`nodes.protocol`) lives in
`catts_graph.serving.vllm_client`, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from nodes.protocol import Message, SamplingParams


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TopLogprob(_Wire):
    token: str
    logprob: float


class TokenLogprobWire(_Wire):
    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = []


class ChoiceLogprobs(_Wire):
    content: list[TokenLogprobWire] | None = None


class ChatMessageWire(_Wire):
    role: str = "assistant"
    content: str | None = None


class Choice(_Wire):
    index: int
    message: ChatMessageWire
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None


class Usage(_Wire):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class PromptLogprob(_Wire):
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


class ChatCompletionResponse(_Wire):
    """`POST /v1/chat/completions`. vLLM puts `prompt_logprobs` and `prompt_token_ids` at the top level."""

    model: str
    choices: list[Choice]
    usage: Usage | None = None
    # One entry per prompt token; entry 0 is None; keys are token ids as strings.
    prompt_logprobs: list[dict[str, PromptLogprob] | None] | None = None
    prompt_token_ids: list[int] | None = None


class TokenizeResponse(_Wire):
    """`POST /tokenize`: image placeholders are already expanded in `tokens`."""

    count: int
    max_model_len: int | None = None
    tokens: list[int]


class ModelCard(_Wire):
    id: str
    root: str | None = None  # vLLM: the folder (or hub id) the model was loaded from


class ModelList(_Wire):
    data: list[ModelCard]


def message_to_wire(message: Message) -> dict[str, Any]:
    """A domain `Message` as an OpenAI chat message; images first, as `image_url` parts with data URLs."""
    if not message.images:
        return {"role": message.role, "content": message.text}
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
    if message.text:
        parts.append({"type": "text", "text": message.text})
    return {"role": message.role, "content": parts}


def sampling_request(model: str, messages: Sequence[Message], params: SamplingParams) -> dict[str, Any]:
    """Body of one chat completion that returns `params.n` samples with top-k log-probs.

    No per-request `seed`: it crashes vLLM's CPU engine under concurrency; seed the server instead.
    It asks for k + 1 top log-probs: vLLM lists the sampled token among them, and when that token ranks below k it
    takes the k-th place, so only the k largest of k + 1 entries are the true top k (the client keeps those).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_to_wire(m) for m in messages],
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k if params.top_k > 0 else -1,
        "min_p": params.min_p,  # a vLLM extra (0 = off, vLLM's default)
        "max_tokens": params.max_tokens,
        "logprobs": True,
        "top_logprobs": params.top_logprobs + 1 if params.top_logprobs else 0,
    }
    if params.stop:
        body["stop"] = list(params.stop)
    return body


def scoring_request(model: str, messages: Sequence[Message], answer: str, top_logprobs: int) -> dict[str, Any]:
    """Body that teacher-forces `answer` as an open assistant turn and returns per-prompt-token log-probs."""
    return {
        "model": model,
        "messages": [message_to_wire(m) for m in messages] + [{"role": "assistant", "content": answer}],
        "max_tokens": 1,
        "temperature": 0.0,
        "prompt_logprobs": top_logprobs,
        "add_generation_prompt": False,
        "continue_final_message": True,
        "return_token_ids": True,
    }


def tokenize_request(model: str, messages: Sequence[Message]) -> dict[str, Any]:
    """Body of `/tokenize` for the prompt up to and including the assistant header."""
    return {"model": model, "messages": [message_to_wire(m) for m in messages], "add_generation_prompt": True}
