"""The model protocol the nodes call, and its domain types.

A `VisionLanguageModel` does two things, asynchronously:

- `sample(messages, params)`: N completions of a chat in one request, each with its text and, per generated token,
  the sampled token's log-prob and the top-k log-probs (the raw material of confidence);
- `score(messages, answer)`: the log-prob of each token of a given `answer` as the assistant's reply to `messages`
  (teacher forcing; the raw material of the visual self-check and of CDRL's noised-image confidence).

Images travel inside `Message`s as validated data URLs, so every request carries them. Implementations:
`catts_graph.VLLMClient` (an OpenAI-compatible vLLM server, the production path) and the scripted fake in tests.

Example:
    >>> msg = Message.user("How many circles are there?")
    >>> (msg.role, msg.text, msg.images)
    ('user', 'How many circles are there?', ())
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol, runtime_checkable

from nodes.confidence import answer_probability, probability_confidence, response_confidence
from nodes.errors import InvalidInputError
from nodes.images import ImageInput, to_data_url

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat turn: text plus images (data URLs, placed before the text)."""

    role: Role
    text: str
    images: tuple[str, ...] = ()

    @classmethod
    def user(cls, text: str, images: Sequence[ImageInput] = ()) -> Message:
        """A user turn; each image (path, bytes, PIL image or data URL) is validated and encoded once, here."""
        return cls("user", text, tuple(to_data_url(image) for image in images))

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls("assistant", text)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. `top_k=0`, `top_p=1.0` and `min_p=0.0` mean "off"; `temperature=0` is greedy decoding.

    `min_p` keeps only the tokens whose probability is at least `min_p` times the most likely token's (min-p
    sampling): it scales with the model's confidence, so a hot temperature does not let the tail in where the model
    is sure.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    max_tokens: int = 256
    top_logprobs: int = 20  # k of the confidence formula; vLLM serves at most --max-logprobs (20 by default)
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.n < 1:
            problems.append(f"n must be >= 1, got {self.n}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            problems.append(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if not 0 <= self.min_p < 1:
            problems.append(f"min_p must be in [0, 1) (0 turns it off), got {self.min_p}")
        if self.max_tokens < 1:
            problems.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 <= self.top_logprobs <= 20:
            problems.append(f"top_logprobs must be in [0, 20], got {self.top_logprobs}")
        if problems:
            raise InvalidInputError("invalid SamplingParams: " + "; ".join(problems))


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text, its log-prob, the top-k log-probs at that step (descending) and, where the
    backend gave them, the tokens those log-probs belong to (same order; empty when unknown)."""

    token: str
    logprob: float
    top_logprobs: tuple[float, ...] = ()
    top_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One completion with per-token log-probs; confidence is computed on first access."""

    text: str
    tokens: tuple[TokenLogprob, ...]
    finish_reason: str | None = None
    prompt_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens)

    @property
    def truncated(self) -> bool:
        """True when generation stopped at the token limit, not at an end of turn or stop string."""
        return self.finish_reason == "length"

    @cached_property
    def confidence(self) -> float:
        """Response confidence C = mean_t c_t (NMLP, higher = more confident); NaN without log-probs."""
        return response_confidence([t.top_logprobs for t in self.tokens])

    @cached_property
    def probability(self) -> float:
        """exp(mean log-prob of the sampled tokens), in [0, 1]; NaN without log-probs."""
        return probability_confidence([t.logprob for t in self.tokens])

    @cached_property
    def answer_probability(self) -> float:
        """P(final answer | the rationale written before it), in [0, 1]; NaN without an answer or log-probs."""
        return answer_probability([t.token for t in self.tokens], [t.logprob for t in self.tokens])


@dataclass(frozen=True)
class AnswerScore:
    """Log-probs of a fixed answer's tokens as the assistant's reply (teacher forcing); with `top_logprobs` asked,
    each position's top log-probs (descending) and the tokens they belong to (`top_tokens`, same order)."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    prompt_tokens: int = 0
    top_logprobs: tuple[tuple[float, ...], ...] = field(default=())
    top_tokens: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def total(self) -> float:
        """log P(answer | messages): the sum of the token log-probs."""
        return math.fsum(self.logprobs)

    @property
    def mean(self) -> float:
        """Mean token log-prob (length-normalised); NaN for an empty answer."""
        return self.total / len(self.logprobs) if self.logprobs else math.nan


@runtime_checkable
class VisionLanguageModel(Protocol):
    """What the nodes need from a model. Implementations raise `nodes.errors.ModelError` subclasses on failure."""

    @property
    def name(self) -> str:
        """A short identifier for traces and results (e.g. the served model name)."""
        ...

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        """`params.n` completions of `messages`, in one request where the backend allows."""
        ...

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        """Per-token log-probs of `answer` as the assistant's reply to `messages`."""
        ...
