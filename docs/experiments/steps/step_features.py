"""Which per-step signals separate wrong reasoning steps from right ones? Samples N responses per item from a served
model, cuts them into clause steps, judges each against the item's reference steps, and prints the AUROC of each
candidate signal for reasoning steps and answer steps apart.

usage: uv run --no-sync python docs/experiments/steps/step_features.py BASE_URL [ITEMS] [SEED]
(needs a server of the bundled base model named `base`; the bundled CLIP scores visual agreement)
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections import defaultdict

import numpy as np

from catts_graph.benchmarks import load_benchmark, matches
from catts_graph.evaluation.metrics import auroc
from catts_graph.evaluation.steps import step_truth
from catts_graph.perception.clip_relevance import ClipRelevance
from catts_graph.serving.vllm_client import VLLMClient
from nodes.common import question_messages
from nodes.config import StepConfig
from nodes.images import load_image
from nodes.protocol import SamplingParams
from nodes.sample import sample_record
from nodes.steps import split_steps, token_certainties, token_indices


async def main(base_url: str, n_items: int = 200, seed: int = 3) -> None:
    client = VLLMClient(base_url, "base")
    clip = ClipRelevance.load("catts_graph/shapes/models/shapes-clip")
    items = load_benchmark(f"shapes:{seed}", limit=n_items).items
    params = SamplingParams(n=8, temperature=1.0, top_k=40, max_tokens=128, top_logprobs=20)
    features: dict[str, dict[str, list[float]]] = {"reasoning": defaultdict(list), "answer": defaultdict(list)}
    for item in items:
        inputs = item.graph_input()
        samples = await client.sample(question_messages(inputs), params)
        image = load_image(item.image)
        cut = [split_steps(s.text, "clauses") for s in samples]
        flat = clip.agreement(image, [step.text for steps in cut for step in steps])  # one image encoding per item
        for sample, steps in zip(samples, cut, strict=True):
            visual, flat = flat[: len(steps)], flat[len(steps) :]
            record = sample_record(sample, answer_type=item.answer_type, choices=None, window=8,
                                   steps=StepConfig(splitter="clauses"))  # fmt: skip
            truth = step_truth([s.text for s in steps], [s.answer for s in steps], item.steps,
                               matches(record["answer"], item))  # fmt: skip
            tokens = [t.token for t in sample.tokens]
            certainty = token_certainties([t.top_logprobs for t in sample.tokens])
            n_reason = sum(not s.answer for s in steps)
            for k, (step, right) in enumerate(zip(steps, truth, strict=True)):
                if right is None:
                    continue
                idx = token_indices(tokens, step)
                lps = [sample.tokens[i].logprob for i in idx]
                certs = [certainty[i] for i in idx if math.isfinite(certainty[i])]
                row = features["answer" if step.answer else "reasoning"]
                row["correct"].append(float(right))
                row["mean_logprob"].append(float(np.mean(lps)))
                row["min_logprob"].append(float(np.min(lps)))
                row["mean_certainty"].append(float(np.mean(certs)) if certs else math.nan)
                row["min_certainty"].append(float(np.min(certs)) if certs else math.nan)
                row["visual"].append(visual[k])
                row["position"].append(-k / max(n_reason, 1))  # earlier = higher
                row["response_min_logprob"].append(min(t.logprob for t in sample.tokens))
                row["prefix_min_logprob"].append(min(t.logprob for t in sample.tokens[: (idx[-1] + 1) if idx else 1]))
    for kind, rows in features.items():
        y = rows.pop("correct")
        print(f"{kind}: {len(y)} steps, {100 * (1 - np.mean(y)):.1f}% wrong")
        for name, values in rows.items():
            print(f"  {name:22s} AUROC {auroc(values, y):.3f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *(int(a) for a in sys.argv[2:])))
