"""`catts demo`: the main job on the embedded default, end to end on this machine.

Serves the bundled ShapesVQA base model and expert with vLLM on loopback, answers held-out ShapesVQA items with
greedy decoding, majority vote and CA-TTS (paper policy, N = 8; majority votes on CA-TTS's own samples) and asks
the expert alone for its greedy answer, prints a table and a summary (each method's accuracy and compute per item,
parameters x tokens of each model it called, and CA-TTS's paired 95% intervals against the other three: 50 items
show the pipeline, not a ranking; the summary names the 500-item command that ranks), saves a figure and
`summary.json`, and stops both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.cli.endpoints import load_relevance
from catts_graph.cli.options import add_graph_options, apply_graph_options
from catts_graph.cli.values import positive_int, validated_config
from catts_graph.evaluation.compute import COMPUTE_LABEL, TOKENS_LABEL, format_compute, mean_compute
from catts_graph.evaluation.counting import CountingModel, TokenCounter, counting_expert
from catts_graph.evaluation.methods import vote_prediction
from catts_graph.evaluation.metrics import auroc, ece, paired_bootstrap_ci
from catts_graph.evaluation.plots import method_comparison, plots_unavailable
from catts_graph.evaluation.probe import GROUNDED_MAX_TOKENS
from catts_graph.evaluation.results import finite_json
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.parameters import served_parameters
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
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per item (answers and each model's tokens), and both models' parameter counts."""
    expert_server = servers.expert or servers.base
    async with (
        VLLMClient(servers.base.base_url, servers.base.model, timeout_s=300) as model,
        VLLMClient(expert_server.base_url, expert_server.model, timeout_s=300) as expert_model,
    ):
        parameters = {"base": (await served_parameters(model)).to_json(),
                      "expert": (await served_parameters(expert_model)).to_json()}  # fmt: skip
        relevance = load_relevance(None, bundled=True)
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
                base_tokens, expert_tokens = TokenCounter(), TokenCounter()  # each model's, for compute
                graph = create_catts_graph(
                    CountingModel(model, base_tokens),
                    expert=counting_expert(expert_model if servers.expert else None, expert_tokens),
                    config=config,
                    relevance=relevance,
                )
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
                "catts_base_tokens": base_tokens.tokens,
                "catts_expert_tokens": expert_tokens.tokens,
                "majority_tokens": majority.tokens,
                "greedy_tokens": greedy.prompt_tokens + greedy.completion_tokens,
                "expert_greedy_tokens": expert_greedy.prompt_tokens + expert_greedy.completion_tokens,
            }

        try:
            return list(await asyncio.gather(*(one(item) for item in items))), parameters
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


METHODS = {"greedy": "greedy", "majority": "majority", "CA-TTS": "catts", "expert": "expert_greedy"}
"""The summary's methods (as printed, as keyed in the rows and summary.json)."""


TOKENS_OF = {  # the (base model's, expert's) token fields of each method in a row; None: that model is not called
    "greedy": ("greedy_tokens", None),
    "majority": ("majority_tokens", None),
    "catts": ("catts_base_tokens", "catts_expert_tokens"),
    "expert_greedy": (None, "expert_greedy_tokens"),
}


def compute_per_item(rows: list[dict[str, Any]], parameters: dict[str, Any]) -> dict[str, float]:
    """Each method's mean compute per item, parameters x tokens of each model it called (NaN without a count)."""

    def tokens(row: dict[str, Any], field: str | None) -> int:
        return 0 if field is None else int(row[field])

    return {
        key: mean_compute([{"base_tokens": tokens(r, b), "expert_tokens": tokens(r, e)} for r in rows], parameters)
        for key, (b, e) in TOKENS_OF.items()
    }


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
        "expert_greedy_tokens": tokens("expert_greedy_tokens"),
        **calibration("greedy", "greedy_confidence"),  # exp(mean log-prob) of the greedy answer
        **calibration("catts", "confidence"),  # the CA-TTS answer's share of the vote table
        "wall_s": round(wall_s, 1),
        "items": rows,
    }


TABLE_COMMAND = (
    "catts eval --benchmark shapes --limit 500 --methods greedy,majority,catts-paper --n 8 --out runs/shapes500"
)


def paired(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """CA-TTS's accuracy minus greedy's, majority's and the expert's alone over the same items, with paired bootstrap
    95% intervals."""
    catts = [float(r["catts"] == r["gold"]) for r in rows]
    return {
        other: paired_bootstrap_ci(catts, [float(r[other] == r["gold"]) for r in rows])
        for other in ("greedy", "majority", "expert_greedy")
    }


def verdict(rows: list[dict[str, Any]]) -> str:
    """The summary's last lines: CA-TTS against greedy and majority with their paired 95% intervals, what this many
    items can and cannot show, and the command of the table that can rank the methods."""
    n = len(rows)
    differences = ", ".join(
        f"against {other.replace('expert_greedy', 'the expert alone')} {100 * d:+.0f} points "
        f"(95% CI {100 * lo:+.0f} to {100 * hi:+.0f})"
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
        rows, parameters = asyncio.run(answer_items(servers, items, image_dir, config, args.concurrency))
    print()
    print_table(rows)
    summary = {**summarize(rows, time.perf_counter() - started), "config": config.model_dump(mode="json")}
    summary["paired_ci95"] = {f"catts_minus_{other}": list(ci) for other, ci in paired(rows).items()}
    compute = compute_per_item(rows, parameters)
    summary["parameters"], summary["compute_per_item"] = parameters, compute
    n = summary["n_items"]
    accuracy = {m: summary[f"{k}_accuracy"] for m, k in METHODS.items()}
    tokens = {m: summary[f"{'' if k == 'catts' else k + '_'}tokens"] / n for m, k in METHODS.items()}
    print(
        f"\n{n} held-out items (seed {args.seed}): greedy {accuracy['greedy']:.0%}, majority of {args.n} "
        f"{accuracy['majority']:.0%}, CA-TTS {accuracy['CA-TTS']:.0%}, "
        f"the expert alone (greedy) {accuracy['expert']:.0%}"
    )
    print(
        f"calibration (AUROC / ECE): greedy exp(mean log-prob) {summary['greedy_auroc']:.2f} / "
        f"{summary['greedy_ece']:.2f}; CA-TTS vote share {summary['catts_auroc']:.2f} / {summary['catts_ece']:.2f}"
    )
    per_item = ", ".join(f"{m} {t:.0f}" for m, t in tokens.items())
    print(f"tokens per item: {per_item}; wall time {summary['wall_s']:.0f} s")
    known = all(math.isfinite(v) for v in compute.values())
    print(compute_line(compute, parameters))
    print(verdict(rows))
    (out / "summary.json").write_text(json.dumps(finite_json(summary), indent=2) + "\n")
    missing = plots_unavailable()
    if missing:
        print(missing, file=sys.stderr)
        print(f"wrote {out / 'summary.json'}; both servers were stopped.")
        return 0
    cost = {m: compute[k] for m, k in METHODS.items()} if known else tokens
    figure = method_comparison(
        accuracy, cost, out / "summary.png", title="ShapesVQA held-out, bundled models", n_items=n,
        cost_label=COMPUTE_LABEL if known else TOKENS_LABEL,
    )  # fmt: skip
    print(f"wrote {out / 'summary.json'} and {figure}; both servers were stopped.")
    return 0


def compute_line(compute: dict[str, float], parameters: dict[str, Any]) -> str:
    """The summary's compute line: each method's compute per item and the two parameter counts behind it, or why
    they are unknown."""
    missing = [f"{role}: {p['source']}" for role, p in parameters.items() if p["count"] is None]
    if missing:
        return f"compute per item unknown, a parameter count could not be read ({'; '.join(missing)})"
    counts = f"base model {parameters['base']['count']:,}, expert {parameters['expert']['count']:,} parameters"
    methods = ", ".join(f"{m} {format_compute(compute[k])}" for m, k in METHODS.items())
    return f"compute per item (parameters x tokens; {counts}): {methods}"
