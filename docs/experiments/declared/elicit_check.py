"""Lab: one elicitation request against a served model, printed (what `nodes.elicit` reads).

    python docs/experiments/declared/elicit_check.py BASE_URL PAIRS_DIR [ITEMS]

For the first ITEMS pairs (default 3): the greedy response on the clean image, the scored text (statements stripped,
the statement opened to the placeholder digit), the last scored token, the digits among its top tokens with their
probabilities, and the elicited (expected) statement.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.serving.vllm_client import VLLMClient
from nodes.elicit import TOP_LOGPROBS, elicitation_text, elicited_confidence
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams
from nodes.stated import ANSWER_DIGITS
from trainers.declared.labels import read_pairs


async def main(base_url: str, pairs_dir: str, items: int) -> None:
    async with VLLMClient(base_url) as client:
        for record in read_pairs(pairs_dir)[:items]:
            image = str(Path(pairs_dir) / record["image"])
            messages = [Message.user(question_prompt(record["question"], record.get("choices")), [image])]
            greedy = (await client.sample(messages, SamplingParams(n=1, temperature=0.0, max_tokens=128)))[0]
            text = elicitation_text(greedy.text)
            score = await client.score(messages, text, top_logprobs=TOP_LOGPROBS)
            top = score.top_tokens[-1] if score.top_tokens else ()
            values = score.top_logprobs[-1] if score.top_logprobs else ()
            digits = {t: round(math.exp(lp), 4) for t, lp in zip(top, values, strict=False) if t in ANSWER_DIGITS}
            print(f"scored: {text!r}\n  last token {score.tokens[-1]!r}; digits in its top {len(top)}: {digits}; "
                  f"elicited {elicited_confidence(score):.3f}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3))
