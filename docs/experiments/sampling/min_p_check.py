"""Lab: min-p reaches a served model (docs/experiments/sampling.md).

    python docs/experiments/sampling/min_p_check.py http://127.0.0.1:PORT [MODEL]

32 samples of the first dev item at T = 2 (vLLM's highest), top-k off, with min-p 0.3 and without: counts the
sampled tokens less than 0.3 times as likely as the most likely one at that temperature (the served log-probs are
raw, before temperature). With min-p none may be; without it some usually are. The same check as the integration
test `test_min_p_keeps_only_tokens_near_the_most_likely`, against any server (here: the bundled base model).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import load_benchmark
from catts_graph.serving.vllm_client import VLLMClient
from nodes.common import question_messages
from nodes.protocol import Sample, SamplingParams

TEMPERATURE, MIN_P = 2.0, 0.3


def below_cut(samples: list[Sample]) -> tuple[int, int]:
    gaps = [(t.logprob - t.top_logprobs[0]) / TEMPERATURE for s in samples for t in s.tokens]
    return sum(gap < math.log(MIN_P) - 1e-3 for gap in gaps), len(gaps)


async def main(url: str, model: str) -> None:
    item = load_benchmark("shapes:3", limit=1).items[0]
    messages = question_messages(item.graph_input(), grounded=False)
    params = SamplingParams(n=32, temperature=TEMPERATURE, top_k=0, max_tokens=48, top_logprobs=1)
    async with VLLMClient(url, model, timeout_s=300) as client:
        cut = await client.sample(messages, dataclasses.replace(params, min_p=MIN_P))
        uncut = await client.sample(messages, params)
    print(f"tokens below the cut (of all sampled): min-p {MIN_P}: {below_cut(cut)}; min-p 0: {below_cut(uncut)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "shapes-base"))
