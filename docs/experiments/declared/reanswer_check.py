"""Lab: what a stating model writes when it re-answers after a critique (the critic's second turn, `nodes.critic`).

    python docs/experiments/declared/reanswer_check.py BASE_URL [ITEMS]

For the first ITEMS items of world seed 2 (default 12): the model's greedy answer stopped where the statement opens
(`nodes.elicit.STOP`), then the re-answer turn with the critique "The answer is correct." (greedy, 256 tokens, no
stop), once after the answer as drawn and once with a statement written after it; prints the end of each first turn,
the re-answer and the answer parsed from it (the last boxed one).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import load_benchmark
from catts_graph.serving.vllm_client import VLLMClient
from nodes.answers import extract_answer
from nodes.elicit import STOP
from nodes.prompts import question_prompt, reanswer_prompt
from nodes.protocol import Message, SamplingParams
from nodes.stated import with_answer_statement


async def main(base_url: str, limit: int) -> None:
    async with VLLMClient(base_url) as client:
        for item in load_benchmark("shapes", limit=limit).items:
            question = Message.user(question_prompt(item.question, item.choices), [item.image])
            first = await client.sample([question], SamplingParams(n=1, temperature=0.0, max_tokens=192, stop=(STOP,)))
            for turn in (first[0].text.rstrip(), with_answer_statement(first[0].text.rstrip(), 0.75)):
                follow = Message.user(reanswer_prompt("The answer is correct.", has_choices=bool(item.choices)))
                params = SamplingParams(n=1, temperature=0.0, max_tokens=256, top_logprobs=1)
                reply = (await client.sample([question, Message.assistant(turn), follow], params))[0].text
                print(f"{turn[-40:]!r} -> {reply[:120]!r} {extract_answer(reply)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 12))
