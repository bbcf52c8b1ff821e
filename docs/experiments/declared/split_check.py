"""Lab: one model answers, another states: the base model's greedy answers with the statement elicited from a
stating model (the teacher-forced request of `nodes.elicit`, sent to the stating model's server).

    python docs/experiments/declared/split_check.py BASE_URL STATING_URL [ITEMS]

For the first ITEMS items of world seed 2 (default 500): the base model's greedy answer (192 tokens, eval's
setting), its correctness, its exp(mean log-prob), and the stating model's elicited statement on that response. Prints
the accuracy, ECE and AUROC of both confidences with the paired bootstrap of their difference (the project's
`paired_metric_ci`), and how many statements could not be elicited. Under `confidence.elicit = "all"` a statement is
only ever read this way, so the model that states need not be the model that answers.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import BenchmarkItem, load_benchmark, matches
from catts_graph.evaluation.metrics import auroc, brier, ece, paired_metric_ci
from catts_graph.serving.vllm_client import VLLMClient
from nodes.answers import extract_answer
from nodes.elicit import TOP_LOGPROBS, elicitation_text, elicited_confidence
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams


async def main(base_url: str, stating_url: str, limit: int) -> None:
    items = load_benchmark("shapes", limit=limit).items
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=192)
    gate = asyncio.Semaphore(8)
    async with VLLMClient(base_url) as base, VLLMClient(stating_url) as stating:

        async def one(item: BenchmarkItem) -> tuple[float, float, float]:
            async with gate:
                messages = [Message.user(question_prompt(item.question, item.choices), [item.image])]
                answer = (await base.sample(messages, greedy))[0]
                score = await stating.score(messages, elicitation_text(answer.text), top_logprobs=TOP_LOGPROBS)
                predicted = extract_answer(answer.text, answer_type=item.answer_type, choices=item.choices)
                right = float(predicted is not None and matches(predicted, item))
                return right, answer.probability, elicited_confidence(score)

        rows = await asyncio.gather(*(one(item) for item in items))
    ok = [r for r, _, _ in rows]
    probability = [p for _, p, _ in rows]
    missing = sum(not math.isfinite(s) for _, _, s in rows)
    stated = [s if math.isfinite(s) else 0.5 for _, _, s in rows]  # none elicited: read as 0.5, counted below
    accuracy = 100 * sum(ok) / len(ok)
    print(f"{len(rows)} items: base greedy accuracy {accuracy:.1f}%; statements not elicited: {missing}")
    for name, conf in (("elicited statement", stated), ("base exp(mean log-prob)", probability)):
        print(f"  {name}: ECE {ece(conf, ok):.3f}, AUROC {auroc(conf, ok):.3f}, Brier {brier(conf, ok):.3f}")
    for label, metric in (("ECE", ece), ("AUROC", auroc)):
        diff, low, high = paired_metric_ci(metric, (stated, ok), (probability, ok))
        print(f"  {label} statement - probability: {diff:+.3f} [{low:+.3f}, {high:+.3f}]")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], int(args[2]) if len(args) > 2 else 500))
