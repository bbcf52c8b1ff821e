"""`catts eval`: which test-time-scaling method, at which budget? Accuracy, calibration and cost on a benchmark."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.calibrate import add_graph_options, apply_graph_options
from catts_graph.cli.endpoints import (
    add_benchmark_argument,
    add_clip_argument,
    finite_json,
    load_relevance,
    model_endpoints,
)
from catts_graph.evaluation.harness import EvalSettings, degraded_warnings, run_evaluation
from catts_graph.evaluation.judge import AnswerJudge
from catts_graph.evaluation.methods import expand_methods
from catts_graph.evaluation.plots import plots_unavailable, rh_curve
from catts_graph.evaluation.report import aggregate, markdown_report, plots, table
from catts_graph.evaluation.results import ResultsFile, check_resume, refuse_unless_resuming
from catts_graph.evaluation.rh_auc import category, run_rh_sweep, summarize_rh
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV, JUDGE_KEY_ENV, chat_model
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import InvalidInputError, ModelError

EPILOG = f"""\
examples:
  catts eval --benchmark shapes --limit 200 --methods greedy,majority,deepconf,catts-paper,catts-adaptive \\
             --n 1,2,4,8,16 --out runs/shapes
  catts eval --benchmark jsonl:data/items.jsonl --methods majority,catts[sc+critic] --n 8 --out DIR --resume
  catts eval --base-url http://127.0.0.1:8000 --expert-base-url http://127.0.0.1:8001 --expert-model big --out DIR

Methods: greedy, majority, deepconf (all DeepConf variants, or one: deepconf-mean, -tail, -bottom, -lowest, -top10,
-top90, -online), catts-paper, catts-adaptive, and ablations catts[MODULES] with MODULES from sc, voter, critic,
check joined by +. Methods at the same N share the same samples. Outputs: DIR/results.jsonl (one line per item,
method and N), DIR/metrics.json, DIR/report.md, DIR/scaling.png, DIR/cost.png, DIR/reliability.png. An interrupted
run continues with --resume and the same settings. Without --base-url the bundled ShapesVQA models are served;
API keys are read from ${API_KEY_ENV} (base server), ${EXPERT_KEY_ENV} (expert) and ${JUDGE_KEY_ENV} (judge).

RH-AUC: catts eval --rh-auc --budgets 16,32,64,128 --out DIR writes DIR/rh_results.jsonl, DIR/rh_auc.json and
DIR/rh_auc.png (items split into perception and reasoning: meta.category, or ShapesVQA question types).
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
    add_benchmark_argument(p, default="shapes")
    p.add_argument("--limit", type=int, help="first K items only")
    p.add_argument(
        "--methods",
        type=_csv,
        default=["greedy", "majority", "catts-paper"],
        help="comma-separated, see below (default: greedy,majority,catts-paper)",
    )
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
    add_clip_argument(p)
    p.add_argument("--judge-base-url", help="OpenAI-compatible server of an LLM judge for answers the rules reject")
    p.add_argument("--judge-model", help="judge model name (required with --judge-base-url; recorded per line)")
    p.add_argument(
        "--rh-auc",
        action="store_true",
        help="instead of the methods: sweep greedy answers over --budgets and report RH-AUC (perception vs reasoning)",
    )
    p.add_argument("--budgets", type=_csv, default=["16", "32", "64", "128"], help="--rh-auc token budgets")
    p.add_argument(
        "--self-check-form",
        choices=["score", "decode"],
        default="score",
        help="score: contrastive answer scoring (any server); decode: step-wise contrastive decoding (needs --engine)",
    )
    add_graph_options(p)
    p.add_argument(
        "--engine",
        type=Path,
        metavar="MODEL_DIR",
        help="run the base model in this process with transformers instead of a vLLM server (research; slow)",
    )
    p.add_argument("--concurrency", type=int, default=4, help="items in flight (default: %(default)s)")
    p.add_argument("--skip-bad-lines", action="store_true", help="evaluate the rest of a JSONL file with bad lines")
    p.add_argument(
        "--allow-remote-images", action="store_true", help="download http(s) images named in a JSONL file (refused)"
    )
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
            "routing": {"sampling": gate, "critic": gate, "self_check": gate},
            "self_check": {"form": args.self_check_form},
        }
    )
    bundled = args.base_url is None and args.engine is None
    config = apply_graph_options(config, args, bundled=bundled)
    return EvalSettings(tuple(methods), tuple(ns), config, max(1, args.concurrency))


def make_judge(args: argparse.Namespace) -> AnswerJudge | None:
    if args.judge_base_url is None:
        return None
    if not args.judge_model:
        raise InvalidInputError("--judge-base-url needs --judge-model NAME too.")
    key = os.environ.get(JUDGE_KEY_ENV, "EMPTY")
    return AnswerJudge(chat_model(args.judge_base_url, args.judge_model, timeout=120, api_key=key))


def run(args: argparse.Namespace) -> int:
    refuse_unless_resuming(args.out, args.resume)
    if args.rh_auc:
        return run_rh(args)
    settings = dataclasses.replace(settings_from(args), judge=make_judge(args))
    bench = load_benchmark(
        args.benchmark,
        limit=args.limit,
        skip_bad_lines=args.skip_bad_lines,
        allow_remote_images=args.allow_remote_images,
    )
    for problem in bench.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    needs_expert = any(m.startswith("catts") for m in settings.methods)
    results = ResultsFile(args.out / "results.jsonl")
    if args.engine is not None:
        run_info = _evaluate_in_process(args, bench, settings, results)
    else:
        with model_endpoints(args, want_expert=needs_expert, timeout=600) as endpoints:
            settings = dataclasses.replace(settings, relevance=endpoints.relevance)
            run_info = {
                "benchmark": bench.name,
                "n_items": len(bench.items),
                "model": endpoints.model or endpoints.base_url,
                "expert": endpoints.expert_name,
                "settings": settings.to_json(),
            }
            check_resume(args.out, run_info, args.resume)
            model = endpoints.client(timeout_s=600)
            asyncio.run(_evaluate(model, endpoints.expert, bench.items, settings, results))
    metrics = aggregate(results.read())
    (args.out / "metrics.json").write_text(json.dumps(finite_json(metrics), indent=2) + "\n")
    (args.out / "report.md").write_text(markdown_report(metrics, run_info))
    missing = plots_unavailable()
    figures = [] if missing else plots(metrics, args.out)
    print(table(metrics))
    written = ["metrics.json", "report.md", *(f.name for f in figures)]
    print(f"\nwrote {args.out / 'results.jsonl'}, {', '.join(written[:-1])} and {written[-1]}")
    if missing:
        print(missing, file=sys.stderr)
    for warning in degraded_warnings(results.read()):
        print(f"{warning} (each line's `fallbacks` in results.jsonl)", file=sys.stderr)
    return 0


def _evaluate_in_process(args: argparse.Namespace, bench: Any, settings: EvalSettings, results: ResultsFile) -> Any:
    """`--engine`: the base model runs here (transformers), and is its own expert unless --expert-base-url is given."""
    if not (args.engine / "config.json").is_file():
        raise InvalidInputError(f"--engine {args.engine} is not a model folder (no config.json).")
    try:
        from catts_graph.serving.engine import TransformersEngine
    except ImportError as e:
        raise InvalidInputError(f"--engine needs the `cpu` extra ({e}).") from None
    expert = None
    if args.expert_base_url:
        if not args.expert_model:
            raise InvalidInputError("--expert-base-url needs --expert-model NAME too.")
        key = os.environ.get(EXPERT_KEY_ENV, "EMPTY")
        expert = chat_model(args.expert_base_url, args.expert_model, timeout=600, api_key=key)
    settings = dataclasses.replace(settings, relevance=load_relevance(args.clip, bundled=True))
    run_info = {
        "benchmark": bench.name,
        "n_items": len(bench.items),
        "model": f"in-process {args.engine}",
        "expert": args.expert_model or "base model",
        "settings": settings.to_json(),
    }
    check_resume(args.out, run_info, args.resume)
    asyncio.run(_evaluate(TransformersEngine(args.engine), expert, bench.items, settings, results))
    return run_info


async def _evaluate(model: Any, expert: Any, items: list[Any], settings: EvalSettings, results: ResultsFile) -> None:
    remaining = len(items) - len(results.completed_ids() & {i.id for i in items})
    try:
        with tqdm(total=remaining, desc="eval", unit="item", file=sys.stderr) as bar:
            await run_evaluation(model, expert, items, settings, results, on_item=bar.update)
    except ModelError as e:  # every finished item is on disk: say so, and how to finish
        saved = len(results.completed_ids() & {i.id for i in items})
        raise ModelError(
            f"{e}\n{saved} of {len(items)} items are saved in {results.path}; once the server answers again, "
            "rerun the same command with --resume to evaluate the rest."
        ) from None
    finally:
        if isinstance(model, VLLMClient):
            await model.aclose()


def run_rh(args: argparse.Namespace) -> int:
    try:
        budgets = sorted({int(b) for b in args.budgets})
    except ValueError:
        raise InvalidInputError("--budgets needs integers, e.g. --budgets 16,32,64,128") from None
    if len(budgets) < 2 or budgets[0] < 1:
        raise InvalidInputError("--budgets needs at least two positive token budgets.")
    bench = load_benchmark(args.benchmark, limit=args.limit, skip_bad_lines=args.skip_bad_lines)
    items = [item for item in bench.items if category(item) is not None]
    if not items:
        raise InvalidInputError(
            f"{bench.name} has no items with a category; give each JSONL item meta.category perception|reasoning."
        )
    with model_endpoints(args, want_expert=False, timeout=600) as endpoints:
        run_info = {"benchmark": bench.name, "n_items": len(items), "rh_budgets": budgets}
        check_resume(args.out, run_info, args.resume)
        results = ResultsFile(args.out / "rh_results.jsonl")
        asyncio.run(_rh(endpoints.client(timeout_s=600), items, budgets, results, args.concurrency))
    summary = summarize_rh(results.read())
    (args.out / "rh_auc.json").write_text(json.dumps(finite_json({**run_info, **summary}), indent=2) + "\n")
    missing = plots_unavailable()
    if not missing:
        rh_curve(summary["budgets"], args.out / "rh_auc.png", title=f"{bench.name}: RH-AUC {summary['rh_auc']:.3f}")
    print(f"{'budget':>7} {'R (reasoning)':>14} {'H (perception)':>15} {'tokens':>7}")
    for row in summary["budgets"]:
        print(
            f"{row['budget']:>7} {100 * row['reasoning_accuracy']:>13.1f}% {100 * row['perception_accuracy']:>14.1f}% "
            f"{row['mean_completion_tokens']:>7.1f}"
        )
    print(f"RH-AUC {summary['rh_auc']:.3f}; wrote {args.out / 'rh_auc.json'}" + ("" if missing else " and rh_auc.png"))
    if missing:
        print(missing, file=sys.stderr)
    return 0


async def _rh(
    client: VLLMClient, items: list[Any], budgets: list[int], results: ResultsFile, concurrency: int
) -> None:
    todo = [item for item in items if item.id not in results.completed_ids()]
    async with client as model:
        with tqdm(total=len(todo), desc="rh-auc", unit="item", file=sys.stderr) as bar:
            await run_rh_sweep(
                model, todo, budgets, results.append, concurrency=max(1, concurrency), on_item=bar.update
            )
