"""`catts eval`: which test-time-scaling method, at which budget? Accuracy, calibration and cost on a benchmark."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.endpoints import EXPERT_KEY_ENV, finite_json, model_endpoints
from catts_graph.config import CATTSConfig
from catts_graph.eval_methods import expand_methods
from catts_graph.eval_report import aggregate, markdown_report, plots, table
from catts_graph.evaluate import EvalSettings, ResultsFile, check_resume, run_evaluation
from catts_graph.vllm_client import VLLMClient
from nodes.errors import InvalidInputError

EPILOG = f"""\
examples:
  catts eval --benchmark shapes --limit 200 --methods greedy,majority,deepconf,catts-paper,catts-adaptive \\
             --n 1,2,4,8,16 --out runs/shapes
  catts eval --benchmark jsonl:data/items.jsonl --methods majority,catts[sc+critic] --n 8 --out DIR --resume
  catts eval --base-url http://127.0.0.1:8000 --expert-base-url http://127.0.0.1:8001 --expert-model big ...

Methods: greedy, majority, deepconf (all DeepConf variants, or one: deepconf-mean, -tail, -bottom, -lowest, -top10,
-top90, -online), catts-paper, catts-adaptive, and ablations catts[MODULES] with MODULES from sc, voter, critic,
check joined by +. Methods at the same N share the same samples. Outputs: DIR/results.jsonl (one line per item,
method and N), DIR/metrics.json, DIR/report.md, DIR/scaling.png, DIR/cost.png, DIR/reliability.png. An interrupted
run continues with --resume and the same settings. Without --base-url the bundled ShapesVQA models are served;
the expert's API key is read from ${EXPERT_KEY_ENV}.
"""


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="compare test-time-scaling methods: accuracy, calibration, cost, scaling",
        description="Evaluate methods on a benchmark with shared samples; write results, metrics, a report and plots.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--benchmark", default="shapes", help="shapes, shapes:SEED or jsonl:PATH (default: shapes)")
    p.add_argument("--limit", type=int, help="first K items only")
    p.add_argument("--methods", type=_csv, default=["greedy", "majority", "catts-paper"], help="comma-separated")
    p.add_argument("--n", type=_csv, default=["8"], help="comma-separated N sweep, e.g. 1,2,4,8 (default: 8)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    p.add_argument("--max-tokens", type=int, default=128, help="tokens per sample (default: %(default)s)")
    p.add_argument("--window", type=int, default=8, help="DeepConf token window (default: %(default)s; short answers)")
    p.add_argument("--min-share", type=float, default=0.75, help="catts-adaptive gate (default: %(default)s)")
    p.add_argument("--min-confidence", type=float, help="catts-adaptive confidence gate (default: unchecked)")
    p.add_argument("--base-url", help="vLLM server of the base model (default: serve the bundled models)")
    p.add_argument("--model", help="served model name")
    p.add_argument("--expert-base-url", help="OpenAI-compatible expert server (default: bundled expert / base model)")
    p.add_argument("--expert-model", help="expert model name")
    p.add_argument("--concurrency", type=int, default=4, help="items in flight (default: %(default)s)")
    p.add_argument("--skip-bad-lines", action="store_true", help="evaluate the rest of a JSONL file with bad lines")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(handler=run)


def settings_from(args: argparse.Namespace) -> EvalSettings:
    try:
        methods = expand_methods(args.methods)
        ns = sorted({int(n) for n in args.n})
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    if not ns or ns[0] < 1:
        raise InvalidInputError("--n needs positive integers, e.g. --n 1,2,4,8")
    gate = {"min_share": args.min_share, "min_confidence": args.min_confidence}
    config = CATTSConfig.model_validate(
        {
            "sampling": {"temperature": args.temperature, "max_tokens": args.max_tokens},
            "vote": {"window": args.window},
            "critic": {"reanswer_max_tokens": args.max_tokens},
            "routing": {"critic": gate, "self_check": gate},
        }
    )
    return EvalSettings(tuple(methods), tuple(ns), config, max(1, args.concurrency))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    bench = load_benchmark(args.benchmark, limit=args.limit, skip_bad_lines=args.skip_bad_lines)
    for problem in bench.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    needs_expert = any(m.startswith("catts") for m in settings.methods)
    with model_endpoints(args, want_expert=needs_expert, timeout=600) as endpoints:
        run_info = {
            "benchmark": bench.name,
            "n_items": len(bench.items),
            "model": endpoints.model or endpoints.base_url,
            "expert": endpoints.expert_name,
            "settings": settings.to_json(),
        }
        check_resume(args.out, run_info, args.resume)
        results = ResultsFile(args.out / "results.jsonl")
        asyncio.run(_evaluate(endpoints.base_url, endpoints.model, endpoints.expert, bench.items, settings, results))
    metrics = aggregate(results.read())
    (args.out / "metrics.json").write_text(json.dumps(finite_json(metrics), indent=2) + "\n")
    (args.out / "report.md").write_text(markdown_report(metrics, run_info))
    figures = plots(metrics, args.out)
    print(table(metrics))
    print(f"\nwrote {args.out / 'results.jsonl'}, metrics.json, report.md and {', '.join(f.name for f in figures)}")
    return 0


async def _evaluate(
    base_url: str, model_name: str | None, expert: Any, items: list[Any], settings: EvalSettings, results: ResultsFile
) -> None:
    async with VLLMClient(base_url, model_name, timeout_s=600) as model:
        remaining = len(items) - len(results.completed_ids() & {i.id for i in items})
        with tqdm(total=remaining, desc="eval", unit="item", file=sys.stderr) as bar:
            await run_evaluation(model, expert, items, settings, results, on_item=bar.update)
