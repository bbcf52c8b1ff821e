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

ScriptedSample = str | tuple[str, float] | Sample


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
    top_logprobs: int = 0


@dataclass
class ScriptedModel:
    """A `VisionLanguageModel` with scripted replies.

    Args:
        samples: replies for sampling calls (temperature > 0), cycled; ``(text, confidence)``, plain text, or a
            ready `Sample` (e.g. with top tokens at a statement's digit).
        greedy: the reply to greedy calls (critic re-answers, the base model as expert): text or a function of
            the messages.
        score: mean token log-prob of `answer` given the messages (default: 0 on every image).
        digits: with top log-probs asked, an answer ending in a digit is scored as two tokens, the rest and that
            digit, and the digit's position gets these ``(token, log-prob)`` pairs as its top (None: no top tokens).
        errors: exceptions raised by the next calls, in order (then calls succeed).
    """

    samples: Sequence[ScriptedSample] = ()
    greedy: str | Callable[[Sequence[Message]], str] = "\\boxed{0}"
    score_fn: Callable[[Sequence[Message], str], float] = lambda messages, answer: 0.0
    digits: Sequence[tuple[str, float]] | None = None
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
            if isinstance(item, Sample):
                out.append(item)
                continue
            text, conf = (item, 5.0) if isinstance(item, str) else item
            out.append(scripted_sample(text, conf))
        return out

    async def score(self, messages: Sequence[Message], answer: str, *, top_logprobs: int = 0) -> AnswerScore:
        self.calls.append(Call("score", list(messages), answer=answer, top_logprobs=top_logprobs))
        self._maybe_fail()
        value = self.score_fn(messages, answer)
        if self.digits is None or not top_logprobs or not answer[-1:].isdigit():
            return AnswerScore((answer,), (value,), prompt_tokens=30)
        top = sorted(self.digits, key=lambda pair: -pair[1])[:top_logprobs]
        tops = ((value,), tuple(lp for _, lp in top)), ((answer[:-1],), tuple(t for t, _ in top))
        return AnswerScore((answer[:-1], answer[-1]), (value, value), 30, *tops)


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
