"""Scripted stand-ins for unit tests of node and graph logic (never a proof that a real path works).

`ScriptedModel` implements `VisionLanguageModel`: sampled replies come from a list (each with the confidence its
tokens should carry), greedy replies from a function of the conversation, answer scores from a function of the
image and the answer. `ScriptedExpert` answers the three expert roles with fixed texts. Both record every call,
images included, and can raise scripted errors.

Example:
    >>> import asyncio
    >>> model = ScriptedModel([("\\\\boxed{2}", 9.0), ("\\\\boxed{3}", 1.0)])
    >>> samples = asyncio.run(model.sample([Message.user("q")], SamplingParams(n=2)))
    >>> [(s.text, round(s.confidence, 1)) for s in samples]
    [('\\\\boxed{2}', 9.0), ('\\\\boxed{3}', 1.0)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nodes.expert import ExpertReply
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob

ScriptedSample = str | tuple[str, float]


def scripted_sample(text: str, confidence: float = 5.0, prompt_tokens: int = 30) -> Sample:
    """A sample whose every token has NMLP confidence `confidence` (top-2 log-probs ``0`` and ``-2c``)."""
    words = re.findall(r"\s*\S+", text) or [""]  # the tokens spell the text, as a server's do
    tokens = tuple(TokenLogprob(w, 0.0, (0.0, -2.0 * confidence)) for w in words)
    return Sample(text, tokens, "stop", prompt_tokens)


@dataclass
class Call:
    kind: str  # "sample" or "score"
    messages: list[Message]
    params: SamplingParams | None = None
    answer: str | None = None


@dataclass
class ScriptedModel:
    """A `VisionLanguageModel` with scripted replies.

    Args:
        samples: replies for sampling calls (temperature > 0), cycled; ``(text, confidence)`` or plain text.
        greedy: the reply to greedy calls (critic re-answers, the base model as expert): text or a function of
            the messages.
        score: mean token log-prob of `answer` given the messages (default: 0 on every image).
        errors: exceptions raised by the next calls, in order (then calls succeed).
    """

    samples: Sequence[ScriptedSample] = ()
    greedy: str | Callable[[Sequence[Message]], str] = "\\boxed{0}"
    score_fn: Callable[[Sequence[Message], str], float] = lambda messages, answer: 0.0
    errors: list[Exception] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    name: str = "scripted"

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    async def sample(self, messages: Sequence[Message], params: SamplingParams) -> list[Sample]:
        self.calls.append(Call("sample", list(messages), params=params))
        self._maybe_fail()
        if params.temperature == 0:
            text = self.greedy(messages) if callable(self.greedy) else self.greedy
            return [scripted_sample(text)] * params.n
        script = list(self.samples) or ["\\boxed{0}"]
        out = []
        for i in range(params.n):
            item = script[i % len(script)]
            text, conf = (item, 5.0) if isinstance(item, str) else item
            out.append(scripted_sample(text, conf))
        return out

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        self.calls.append(Call("score", list(messages), answer=answer))
        self._maybe_fail()
        return AnswerScore((answer,), (self.score_fn(messages, answer),), prompt_tokens=30)


@dataclass
class ScriptedExpert:
    """An `Expert` with one fixed reply per role (detected from the role prompt); records every request."""

    voter: str = ""
    critic: str = "The answer is correct."
    planner: str = "critic, self_check"
    answer: str = "\\boxed{0}"  # asked the question itself (the `answer` Voter form)
    errors: list[Exception] = field(default_factory=list)
    calls: list[list[Message]] = field(default_factory=list)
    name: str = "scripted-expert"

    def role_of(self, messages: Sequence[Message]) -> str:
        text = messages[-1].text
        if "Candidate answers:" in text:
            return "voter"
        if "Proposed answer:" in text:
            return "critic"
        return "planner" if "Two checks can follow" in text else "answer"

    async def complete(self, messages: Sequence[Message], *, max_tokens: int) -> ExpertReply:
        self.calls.append(list(messages))
        if self.errors:
            raise self.errors.pop(0)
        reply: Any = getattr(self, self.role_of(messages))
        return ExpertReply(str(reply), prompt_tokens=20, completion_tokens=len(str(reply).split()))
