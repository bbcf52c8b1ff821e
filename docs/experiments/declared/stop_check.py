"""Lab: what a served stating model's samples answer with and without a stop where the statement opens (the stop
`confidence.elicit = "all"` sends, `nodes.elicit.STOP`).

    python docs/experiments/declared/stop_check.py BASE_URL [ITEMS]

For the first ITEMS items of world seed 2 (default 100): N = 8 samples at the graph's settings (T = 1.0, top-k 40)
and eval's 192 tokens, drawn once as they come. Generation up to a stop string is the same with or without it, so
each candidate stop is applied to those texts (cut at its first occurrence): the whole opening
(`nodes.stated.ANSWER_PREFIX`), its first word (`STOP`) and the bracket alone. Per candidate: the samples with a
parseable answer, their accuracy, the majority vote's accuracy, and the samples that still write anything after their
first boxed answer. Then the same items drawn again with `STOP` sent to the server (its own stop, a fresh draw).
"""

from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import BenchmarkItem, load_benchmark, matches
from catts_graph.graph.config import SamplingConfig
from catts_graph.serving.vllm_client import VLLMClient
from nodes.answers import extract_answer
from nodes.elicit import STOP, statement_stop
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams
from nodes.stated import ANSWER_PREFIX


def after_answer(text: str) -> str:
    """What a response writes after its first boxed answer ('' without one)."""
    start = text.find("\\boxed{")
    end = text.find("}", start)
    return text[end + 1 :].strip() if start >= 0 and end >= 0 else ""


def summary(drawn: list[tuple[BenchmarkItem, list[str]]]) -> str:
    parsed = right = voted = trailing = 0
    for item, texts in drawn:
        answers = [extract_answer(t, answer_type=item.answer_type, choices=item.choices) for t in texts]
        parsed += sum(a is not None for a in answers)
        right += sum(a is not None and matches(a, item) for a in answers)
        votes = collections.Counter(a for a in answers if a is not None)
        voted += bool(votes) and matches(votes.most_common(1)[0][0], item)
        trailing += sum(bool(after_answer(t)) for t in texts)
    n = sum(len(texts) for _, texts in drawn)
    return (f"parsed {parsed}/{n}, sample accuracy {right / n:.3f}, majority {voted / len(drawn):.3f}, "
            f"text after the first answer {trailing}/{n}")  # fmt: skip


async def draw(client: VLLMClient, items: list[BenchmarkItem], params: SamplingParams) -> list[list[str]]:
    gate = asyncio.Semaphore(8)

    async def one(item: BenchmarkItem) -> list[str]:
        async with gate:
            messages = [Message.user(question_prompt(item.question, item.choices), [item.image])]
            return [s.text for s in await client.sample(messages, params)]

    return list(await asyncio.gather(*(one(item) for item in items)))


async def main(base_url: str, limit: int) -> None:
    items = load_benchmark("shapes", limit=limit).items
    params = SamplingConfig(max_tokens=192).params()
    async with VLLMClient(base_url) as client:
        drawn = await draw(client, items, params)
        stopped = await draw(client, items, statement_stop(params, "all"))
    for stop in (None, ANSWER_PREFIX, STOP, "("):
        cut = [[t[: t.find(stop)] if stop and stop in t else t for t in texts] for texts in drawn]
        print(f"cut at {stop!r}: {summary(list(zip(items, cut, strict=True)))}")
    print(f"drawn with stop {STOP!r}: {summary(list(zip(items, stopped, strict=True)))}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100))
