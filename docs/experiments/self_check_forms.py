"""Which self-check form carries information: the three `SelfCheckConfig.scored` forms on the same draws.

For every item: N samples from the base model (one request), the confidence-weighted vote, its top candidates; on
items with two or more candidates each form scores every candidate under the clean and the same noised image, and
its pick is graded. Also graded: the vote's leader, and the leader after the self-check's tau3 vote is added
(``sc+check``, the graph's self-consistency + self-check path). One JSON line per item goes to --out; the summary
(accuracy with paired bootstrap CIs against the leader) is printed.

    uv run --no-sync catts serve catts_graph/shapes/models/shapes-base --port 8011 &
    uv run --no-sync python docs/experiments/self_check_forms.py --base-url http://127.0.0.1:8011 \\
        --benchmark shapes:2 --limit 300 --out docs/experiments/self-check-forms.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from catts_graph.benchmarks import BenchmarkItem, load_benchmark, matches
from catts_graph.cli.endpoints import load_relevance
from catts_graph.serving.vllm_client import VLLMClient
from nodes.common import question_messages, vote_summary
from nodes.config import SamplingConfig, SelfCheckConfig
from nodes.images import data_urls
from nodes.relevance import RelevanceModel
from nodes.sample import sample_record
from nodes.self_check import SelfCheckNode, noised_data_url
from nodes.state import CATTSState
from nodes.vote import sample_weights
from nodes.voting import leader, self_consistency_votes

FORMS = ("answer", "answer_given_rationale", "response")


async def measure_item(
    model: VLLMClient, item: BenchmarkItem, n: int, relevance: RelevanceModel | None
) -> dict[str, Any]:
    state: CATTSState = {
        "question": item.question,
        "images": data_urls([item.image]),
        "choices": list(item.choices) if item.choices else None,
        "answer_type": item.answer_type,
    }
    messages = question_messages(state)
    sampling = SamplingConfig(n=n, max_tokens=128)
    drawn = await model.sample(messages, sampling.params())
    records = [sample_record(s, answer_type=item.answer_type, choices=state["choices"], window=8) for s in drawn]
    votes = self_consistency_votes([r["answer"] for r in records], sample_weights(records, "confidence"))
    state = {**state, "samples": records, "contributions": [{"module": "self_consistency", "votes": votes}]}
    candidates = list(vote_summary(state)["shares"])[: SelfCheckConfig().max_candidates]
    top, _ = leader(votes)
    line: dict[str, Any] = {"id": item.id, "gold": item.answer, "leader": top, "candidates": candidates}
    line["leader_correct"] = matches(top, item)
    line["gold_in_candidates"] = any(matches(c, item) for c in candidates)
    if len(candidates) < 2:
        return line
    noise = SelfCheckConfig().noise
    noised = await asyncio.to_thread(
        lambda: tuple(
            noised_data_url(u, noise, question=item.question, relevance=relevance) for u in messages[0].images
        )
    )
    for form in FORMS:
        config = SelfCheckConfig(scored=form)
        update = await SelfCheckNode(model, config=config)._score(state, candidates, messages, noised, config)
        pick = update["self_check"]["picked"]
        with_check = dict(votes)
        if pick is not None:
            with_check[pick] = with_check.get(pick, 0.0) + config.tau3
        line[form] = {
            "pick": pick,
            "pick_correct": matches(pick, item),
            "final": leader(with_check)[0],
            "final_correct": matches(leader(with_check)[0], item),
            "candidates": update["self_check"]["candidates"],
        }
    return line


def paired_ci(a: list[bool], b: list[bool], seed: int = 0, draws: int = 10_000) -> tuple[float, float, float]:
    """Mean of a - b (accuracy points) and its 95% bootstrap interval over items."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)  # (items,)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(draws, len(diff)))  # (draws, items)
    means = diff[idx].mean(axis=1)  # (draws,)
    return 100 * diff.mean(), 100 * np.percentile(means, 2.5), 100 * np.percentile(means, 97.5)


def summarise(lines: list[dict[str, Any]]) -> str:
    multi = [line for line in lines if "answer" in line]
    rows = [f"items {len(lines)}; with >= 2 candidates {len(multi)}"]
    rows.append(f"leader accuracy (all items): {100 * np.mean([x['leader_correct'] for x in lines]):.1f}%")
    leader_multi = [x["leader_correct"] for x in multi]
    rows.append(f"on multi-candidate items: leader {100 * np.mean(leader_multi):.1f}%")
    for form in FORMS:
        picks = [x[form]["pick_correct"] for x in multi]
        finals = [x[form]["final_correct"] for x in multi]
        d, lo, hi = paired_ci(picks, leader_multi)
        fd, flo, fhi = paired_ci(finals, leader_multi)
        rows.append(
            f"{form:24s} pick {100 * np.mean(picks):5.1f}% (vs leader {d:+.1f} [{lo:+.1f}, {hi:+.1f}]); "
            f"sc+check {100 * np.mean(finals):5.1f}% (vs leader {fd:+.1f} [{flo:+.1f}, {fhi:+.1f}])"
        )
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--benchmark", default="shapes:2")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    items = load_benchmark(args.benchmark, limit=args.limit).items
    relevance = load_relevance(None, bundled=True)
    done = {json.loads(x)["id"] for x in args.out.read_text().splitlines()} if args.out.exists() else set()
    slots = asyncio.Semaphore(args.concurrency)
    async with VLLMClient(args.base_url, timeout_s=600) as model:

        async def one(item: BenchmarkItem) -> dict[str, Any]:
            async with slots:
                return await measure_item(model, item, args.n, relevance)

        todo = [one(item) for item in items if item.id not in done]
        with args.out.open("a") as out:
            for result in tqdm(asyncio.as_completed(todo), total=len(todo), desc="items"):
                out.write(json.dumps(await result) + "\n")
                out.flush()
    print(summarise([json.loads(x) for x in args.out.read_text().splitlines()]))


if __name__ == "__main__":
    asyncio.run(main())
