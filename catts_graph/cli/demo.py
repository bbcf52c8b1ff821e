"""`catts demo`: the main job on the embedded default, end to end on this machine.

Serves the bundled ShapesVQA base model and expert with vLLM on loopback, answers held-out ShapesVQA items with
greedy decoding, majority vote and CA-TTS (paper policy, N = 8; the three share the same samples), prints a table
and a summary (with CA-TTS's paired 95% intervals against greedy and majority: 50 items show the pipeline, not a
ranking; the summary names the 500-item command that ranks), saves a figure and `summary.json`, and stops both
servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.cli.endpoints import load_relevance
from catts_graph.cli.options import GROUNDED_MAX_TOKENS, add_graph_options, apply_graph_options
from catts_graph.cli.values import positive_int, validated_config
from catts_graph.evaluation.methods import vote_prediction
from catts_graph.evaluation.metrics import auroc, ece, paired_bootstrap_ci
from catts_graph.evaluation.plots import method_comparison, plots_unavailable
from catts_graph.evaluation.results import finite_json
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.vllm_client import VLLMClient
from catts_graph.shapes.bundled import BASE_MODEL, GROUNDED_MODEL, EmbeddedServers, serve_bundled
from catts_graph.shapes.world import ShapesItem, make_item
from nodes.answers import extract_answer
from nodes.common import question_messages
from nodes.protocol import SamplingParams
from nodes.state import graph_input

HELD_OUT_SEED = 1  # training streams never use world seeds below 10,000
MAX_TOKENS = 64


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="CA-TTS vs greedy vs majority on held-out ShapesVQA items, end to end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("catts-demo-out"), help="output folder (default: %(default)s)")
    p.add_argument("--items", type=positive_int, default=50, help="held-out items to answer (default: %(default)s)")
    p.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="world seed of the items (default: %(default)s)")
    p.add_argument("--n", type=positive_int, default=8, help="samples per question (default: %(default)s)")
    p.add_argument("--concurrency", type=positive_int, default=8, help="items in flight (default: %(default)s)")
    add_graph_options(p)
    p.set_defaults(handler=run)


def demo_config(args: argparse.Namespace) -> CATTSConfig:
    """The paper's policy at N = `--n`, short answers, the bundled expert's Voter form, any `--voter-form` /
    `--weights`."""
    tokens = GROUNDED_MAX_TOKENS if args.grounded else MAX_TOKENS
    config = validated_config(
        {"sampling": {"n": args.n, "max_tokens": tokens}, "critic": {"reanswer_max_tokens": tokens}},
        {"sampling.n": "--n"},
    )
    return apply_graph_options(config, args, bundled=True)


async def answer_items(
    servers: EmbeddedServers, items: list[ShapesItem], image_dir: Path, config: CATTSConfig, concurrency: int
) -> list[dict[str, Any]]:
    expert_server = servers.expert or servers.base
    async with (
        VLLMClient(servers.base.base_url, servers.base.model, timeout_s=300) as model,
        VLLMClient(expert_server.base_url, expert_server.model, timeout_s=300) as expert_model,
    ):
        graph = create_catts_graph(
            model,
            expert=expert_model if servers.expert else None,
            config=config,
            relevance=load_relevance(None, bundled=True),
        )
        gate = asyncio.Semaphore(concurrency)
        bar = tqdm(total=len(items), desc="items", unit="item", file=sys.stderr)

        async def one(item: ShapesItem) -> dict[str, Any]:
            image = image_dir / f"{item.id}.png"
            item.render().save(image)
            inputs = graph_input(item.question, [str(image)], answer_type=item.answer_type)
            async with gate:
                prompt = question_messages(inputs, grounded=config.grounding.enabled)
                greedy_params = SamplingParams(temperature=0.0, max_tokens=config.sampling.max_tokens)
                greedy_samples, expert_samples = await asyncio.gather(
                    model.sample(prompt, greedy_params),
                    expert_model.sample(question_messages(inputs), greedy_params),
                )
                greedy, expert_greedy = greedy_samples[0], expert_samples[0]
                out = await graph.ainvoke(inputs)
            bar.update()
            usage = out["usage"]
            majority = vote_prediction(out["samples"], "majority", greedy.prompt_tokens)  # same samples, same prompt
            return {
                "id": item.id,
                "question": item.question,
                "gold": item.answer,
                "greedy": extract_answer(greedy.text, answer_type=item.answer_type),
                "greedy_confidence": greedy.probability,
                "expert_greedy": extract_answer(expert_greedy.text, answer_type=item.answer_type),
                "majority": majority.answer,
                "catts": out["answer"],
                "confidence": out["confidence"],
                "modules_run": out["modules_run"],
                "catts_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
                "majority_tokens": majority.tokens,
                "greedy_tokens": greedy.prompt_tokens + greedy.completion_tokens,
            }

        try:
            return list(await asyncio.gather(*(one(item) for item in items)))
        finally:
            bar.close()


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'question':36} {'gold':>6} {'greedy':>7} {'CA-TTS':>7} {'conf':>5}  modules run"
    print(header)
    print("-" * len(header))
    short = {"self_consistency": "sc", "voter": "voter", "critic": "critic", "self_check": "check"}
    for r in rows:
        mods = ",".join(short.get(m, m) for m in r["modules_run"])
        greedy, catts = r["greedy"] or "-", r["catts"] or "-"
        mark = "" if r["catts"] == r["gold"] else " x"
        print(f"{r['question'][:36]:36} {r['gold']:>6} {greedy:>7} {catts:>7} {r['confidence']:5.2f}  {mods}{mark}")


def summarize(rows: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    def accuracy(key: str) -> float:
        return sum(float(r[key] == r["gold"]) for r in rows) / len(rows)

    def tokens(key: str) -> int:
        return sum(int(r[key]) for r in rows)

    def calibration(prefix: str, confidence_key: str) -> dict[str, float]:
        confidence = [r[confidence_key] for r in rows]
        correct = [float(r[prefix] == r["gold"]) for r in rows]
        return {f"{prefix}_auroc": auroc(confidence, correct), f"{prefix}_ece": ece(confidence, correct)}

    return {
        "n_items": len(rows),
        "greedy_accuracy": accuracy("greedy"),
        "majority_accuracy": accuracy("majority"),
        "catts_accuracy": accuracy("catts"),
        "expert_greedy_accuracy": accuracy("expert_greedy"),
        "tokens": tokens("catts_tokens"),
        "greedy_tokens": tokens("greedy_tokens"),
        "majority_tokens": tokens("majority_tokens"),
        **calibration("greedy", "greedy_confidence"),  # exp(mean log-prob) of the greedy answer
        **calibration("catts", "confidence"),  # the CA-TTS answer's share of the vote table
        "wall_s": round(wall_s, 1),
        "items": rows,
    }


TABLE_COMMAND = (
    "catts eval --benchmark shapes --limit 500 --methods greedy,majority,catts-paper --n 8 --out runs/shapes500"
)


def paired(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """CA-TTS's accuracy minus greedy's and majority's over the same items, with paired bootstrap 95% intervals."""
    catts = [float(r["catts"] == r["gold"]) for r in rows]
    return {
        other: paired_bootstrap_ci(catts, [float(r[other] == r["gold"]) for r in rows])
        for other in ("greedy", "majority")
    }


def verdict(rows: list[dict[str, Any]]) -> str:
    """The summary's last lines: CA-TTS against greedy and majority with their paired 95% intervals, what this many
    items can and cannot show, and the command of the table that can rank the methods."""
    n = len(rows)
    differences = ", ".join(
        f"against {other} {100 * d:+.0f} points (95% CI {100 * lo:+.0f} to {100 * hi:+.0f})"
        for other, (d, lo, hi) in paired(rows).items()
    )
    return (
        f"CA-TTS {differences}, paired over the same {n} items.\n"
        f"{n} items show the pipeline end to end and only differences whose interval excludes 0; one answer is "
        f"{100 / n:.0f} points, so they cannot rank methods a few points apart. The ranking is the 500-item table "
        f"in docs/results.md: {TABLE_COMMAND}"
    )


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    items = [make_item(args.seed, i) for i in range(args.items)]
    config = demo_config(args)
    started = time.perf_counter()
    print("serving the bundled ShapesVQA base model and expert with vLLM on loopback (1-2 minutes) ...")
    with serve_bundled(expert=True, base=GROUNDED_MODEL if args.grounded else BASE_MODEL) as servers:
        print(f"base at {servers.base.base_url}, expert at {servers.expert.base_url if servers.expert else '-'}")
        rows = asyncio.run(answer_items(servers, items, image_dir, config, args.concurrency))
    print()
    print_table(rows)
    summary = {**summarize(rows, time.perf_counter() - started), "config": config.model_dump(mode="json")}
    summary["paired_ci95"] = {f"catts_minus_{other}": list(ci) for other, ci in paired(rows).items()}
    n = summary["n_items"]
    print(
        f"\n{n} held-out items (seed {args.seed}): greedy {summary['greedy_accuracy']:.0%}, "
        f"majority of {args.n} {summary['majority_accuracy']:.0%}, CA-TTS {summary['catts_accuracy']:.0%} "
        f"(the expert alone, greedy: {summary['expert_greedy_accuracy']:.0%})"
    )
    print(
        f"calibration (AUROC / ECE): greedy exp(mean log-prob) {summary['greedy_auroc']:.2f} / "
        f"{summary['greedy_ece']:.2f}; CA-TTS vote share {summary['catts_auroc']:.2f} / {summary['catts_ece']:.2f}"
    )
    print(
        f"tokens per item: greedy {summary['greedy_tokens'] / n:.0f}, majority {summary['majority_tokens'] / n:.0f}, "
        f"CA-TTS {summary['tokens'] / n:.0f}; wall time {summary['wall_s']:.0f} s"
    )
    print(verdict(rows))
    accuracy = {
        m: summary[f"{k}_accuracy"] for m, k in (("greedy", "greedy"), ("majority", "majority"), ("CA-TTS", "catts"))
    }
    tokens = {
        "greedy": summary["greedy_tokens"] / n,
        "majority": summary["majority_tokens"] / n,
        "CA-TTS": summary["tokens"] / n,
    }
    (out / "summary.json").write_text(json.dumps(finite_json(summary), indent=2) + "\n")
    missing = plots_unavailable()
    if missing:
        print(missing, file=sys.stderr)
        print(f"wrote {out / 'summary.json'}; both servers were stopped.")
        return 0
    figure = method_comparison(
        accuracy, tokens, out / "summary.png", title="ShapesVQA held-out, bundled models", n_items=n
    )
    print(f"wrote {out / 'summary.json'} and {figure}; both servers were stopped.")
    return 0
