"""`AnswerJudge`: an optional LLM judge for answers the rule-based matcher rejects (free-form benchmarks).

Pinned: temperature 0, a fixed prompt (`JUDGE_PROMPT_VERSION`), and the judge's model name, all recorded in every
result line it touches, so a number can always be traced to the judge that produced it. The judge only ever sees
text and its reply is parsed as data (a yes/no verdict); anything else is recorded as unparseable and the rule
decides.

Example:
    >>> from langchain_openai import ChatOpenAI  # doctest: +SKIP
    >>> judge = AnswerJudge(ChatOpenAI(model="judge", base_url="http://127.0.0.1:8001/v1", temperature=0))
    ... # doctest: +SKIP
    >>> asyncio.run(judge.verdict("What is 2+2?", gold="4", prediction="four"))  # doctest: +SKIP
    {'model': 'judge', 'prompt': 'v1', 'verdict': True}
"""

from __future__ import annotations

import re
from typing import Any

from nodes.parsing import MAX_REPLY_CHARS

JUDGE_PROMPT_VERSION = "v1"
_PROMPT = """You grade answers to a question about an image. Decide whether the candidate answer means the same as \
the reference answer (same number, same option, same entity; ignore formatting and units written differently).

Question: {question}
Reference answer: {gold}
Candidate answer: {prediction}

Reply with one word: yes or no."""
_VERDICT = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def judge_prompt(question: str, gold: str, prediction: str) -> str:
    """The judge's prompt (version `JUDGE_PROMPT_VERSION`)."""
    return _PROMPT.format(question=question, gold=gold, prediction=prediction)


def parse_verdict(reply: str) -> bool | None:
    """True for "yes", False for "no" (the first word), None for anything else."""
    match = _VERDICT.match(reply[:MAX_REPLY_CHARS])
    return None if match is None else match.group(1).lower() == "yes"


class AnswerJudge:
    """Asks a LangChain chat model (temperature 0) whether a prediction matches the reference answer."""

    def __init__(self, chat_model: Any, *, name: str | None = None) -> None:
        self.chat_model = chat_model
        self.name = name or str(getattr(chat_model, "model_name", None) or type(chat_model).__name__)

    async def verdict(self, question: str, *, gold: str, prediction: str) -> dict[str, Any]:
        """``{"model", "prompt", "verdict"}``, plus ``"error"`` when the call failed or the reply did not parse
        (then ``verdict`` is None and the rule-based result stands)."""
        record: dict[str, Any] = {"model": self.name, "prompt": JUDGE_PROMPT_VERSION, "verdict": None}
        try:
            reply = await self.chat_model.ainvoke(judge_prompt(question, gold, prediction))
        except Exception as e:  # noqa: BLE001 - any judge failure is recorded; the rule-based verdict stands
            record["error"] = f"{type(e).__name__}: {e}"[:300]
            return record
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        record["verdict"] = parse_verdict(text)
        if record["verdict"] is None:
            record["error"] = f"unparseable reply: {text[:80]!r}"
        return record
