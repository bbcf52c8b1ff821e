"""`catts eval`: which test-time-scaling method, at which budget? Accuracy, calibration and cost on a benchmark.

Parses the options into one `EvalJob` and the servers to call; `catts_graph.evaluation.job` does the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.cli.endpoints import Endpoints, chat_expert, expert_client, load_relevance, model_endpoints
from catts_graph.cli.options import (
    Servers,
    add_benchmark_option,
    add_clip_option,
    add_gate_options,
    add_graph_options,
    add_server_options,
    apply_graph_options,
    csv_list,
    judge_from,
    routing_from,
    servers_from,
)
from catts_graph.cli.settings import bundled_hint, settings_line
from catts_graph.cli.values import add_min_p_option, positive_int, validated_config
from catts_graph.evaluation.catts_runs import catts_config
from catts_graph.evaluation.expert_baselines import require_expert
from catts_graph.evaluation.harness import EvalSettings
from catts_graph.evaluation.job import EvalJob, EvalModels, EvalRun, open_run
from catts_graph.evaluation.methods import expand_methods
from catts_graph.evaluation.probe import GROUNDED_MAX_TOKENS
from catts_graph.evaluation.report import table
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV, JUDGE_KEY_ENV
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import InvalidInputError, ModelError

EPILOG = f"""\
examples:
  catts eval --benchmark shapes --limit 200 --methods greedy,majority,deepconf,catts-paper,catts-adaptive \\
             --n 1,2,4,8,16 --out runs/shapes
  catts eval --benchmark jsonl:data/items.jsonl --methods majority,catts[sc+critic] --n 8 --out DIR --resume
  catts eval --base-url http://127.0.0.1:8000 --expert-base-url http://127.0.0.1:8001 --expert-model big --out DIR

Methods: greedy, majority, expert and expert-majority (the expert alone: its greedy answer, and a majority over
N of its samples; they need an expert), deepconf (all DeepConf variants, or one: deepconf-mean, -tail, -bottom,
-lowest, -top10, -top90, -online), step-vote (each sample weighs by its weakest reasoning step), catts-paper,
catts-adaptive, catts-sequential (draws rounds of 2, 4, 8, ... up to N until the leader is settled; --stop-rule),
and ablations catts[MODULES] with MODULES from sc, voter, critic, check joined by +; a preset with +skip-futile
(catts-paper+skip-futile) skips the modules that cannot change the answer (routing.skip_futile). Methods at the
same N share the same samples. Step confidence (ECE and AUROC of each step signal) is reported from the greedy and
majority lines, judged against the items' reference steps. Cost is compute per item, parameters x tokens of each
model called (counted in the served models' folders; tokens where a count cannot be read). Outputs:
DIR/results.jsonl (one line per item, method and N), DIR/metrics.json, DIR/report.md, DIR/scaling.png,
DIR/cost.png, DIR/reliability.png.
An interrupted run continues with --resume and the same settings. Without --base-url the bundled ShapesVQA models
are served; API keys are read from ${API_KEY_ENV} (base server), ${EXPERT_KEY_ENV} (expert) and ${JUDGE_KEY_ENV}
(judge).

Across machines: run `--shard I/K` on each (every K-th item from the I-th, 0-based; resume works per shard), then
`catts eval merge DIR... --out DIR` joins the shard folders into one run with the same metrics, report and plots.

RH-AUC: catts eval --rh-auc --budgets 16,32,64,128 --out DIR writes DIR/rh_results.jsonl, DIR/rh_auc.json and
DIR/rh_auc.png (items split into perception and reasoning: meta.category, or ShapesVQA question types).
"""

EVAL_OPTIONS = {
    "sampling.temperature": "--temperature",
    "sampling.min_p": "--min-p",
    "sampling.max_tokens": "--max-tokens",
    "critic.reanswer_max_tokens": "--max-tokens",
    "vote.window": "--window",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="compare test-time-scaling methods: accuracy, calibration, cost, scaling",
        description="Evaluate methods on a benchmark with shared samples; write results, metrics, a report and plots.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_option(p, default="shapes")
    p.add_argument("--limit", type=int, help="first K items only")
    p.add_argument(
        "--methods",
        type=csv_list,
        help="comma-separated, see below (default: greedy,majority,catts-paper, and expert when an expert is served "
        "or named)",
    )
    p.add_argument("--n", type=csv_list, default=["8"], help="comma-separated N sweep, e.g. 1,2,4,8 (default: 8)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    add_min_p_option(p)
    p.add_argument(
        "--max-tokens", type=int, help="tokens per sample (default: 128; 192 with --grounded: caption and boxes)"
    )
    p.add_argument("--window", type=int, default=8, help="DeepConf token window (default: %(default)s; short answers)")
    add_gate_options(
        p,
        share_help="catts-adaptive gate (default: %(default)s)",
        confidence_help="catts-adaptive confidence gate (default: unchecked)",
    )
    add_server_options(p, expert=True, default="serve the bundled models")
    add_clip_option(p)
    p.add_argument("--judge-base-url", help="OpenAI-compatible server of an LLM judge for answers the rules reject")
    p.add_argument("--judge-model", help="judge model name (required with --judge-base-url; recorded per line)")
    p.add_argument(
        "--rh-auc",
        action="store_true",
        help="instead of the methods: sweep greedy answers over --budgets and report RH-AUC (perception vs reasoning)",
    )
    p.add_argument("--budgets", type=csv_list, default=["16", "32", "64", "128"], help="--rh-auc token budgets")
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
    p.add_argument("--concurrency", type=positive_int, default=4, help="items in flight (default: %(default)s)")
    p.add_argument("--skip-bad-lines", action="store_true", help="evaluate the rest of a JSONL file with bad lines")
    p.add_argument(
        "--allow-remote-images", action="store_true", help="download http(s) images named in a JSONL file (refused)"
    )
    p.add_argument(
        "--shard",
        metavar="I/K",
        help="evaluate every K-th item from the I-th (0-based) only, one shard of a run spread over K processes or "
        "machines; join the shard folders with `catts eval merge`",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(handler=run)


def shard_from(text: str | None) -> tuple[int, int] | None:
    """`--shard I/K` as (I, K), 0 <= I < K; `InvalidInputError` says what to give."""
    if text is None:
        return None
    index, _, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise InvalidInputError(f"--shard {text}: give I/K with 0 <= I < K, e.g. 0/2 and 1/2 for two machines")
    return shard


def job_from(args: argparse.Namespace) -> EvalJob:
    """The `EvalJob` the options describe; raises `InvalidInputError` on a value no job takes."""
    budgets: tuple[int, ...] = ()
    methods: list[str] = []
    ns: list[int] = [8]
    if args.rh_auc:
        try:
            budgets = tuple(sorted({int(b) for b in args.budgets}))
        except ValueError:
            raise InvalidInputError("--budgets needs integers, e.g. --budgets 16,32,64,128") from None
        if len(budgets) < 2 or budgets[0] < 1:
            raise InvalidInputError("--budgets needs at least two positive token budgets.")
    else:
        try:
            expert = bool(args.expert_base_url) or (args.base_url is None and args.engine is None)  # one to ask
            methods = expand_methods(args.methods or ["greedy", "majority", *(["expert"] * expert), "catts-paper"])
            ns = sorted({int(n) for n in args.n})
        except ValueError as e:
            raise InvalidInputError(str(e)) from None
        if not ns or ns[0] < 1:
            raise InvalidInputError("--n needs positive integers, e.g. --n 1,2,4,8")
    routing = routing_from(args).model_dump()
    max_tokens = args.max_tokens if args.max_tokens is not None else GROUNDED_MAX_TOKENS if args.grounded else 128
    config = validated_config(
        {
            "sampling": {"temperature": args.temperature, "min_p": args.min_p, "max_tokens": max_tokens},
            "vote": {"window": args.window},
            "critic": {"reanswer_max_tokens": max_tokens},
            "routing": routing,
            "self_check": {"form": args.self_check_form},
        },
        EVAL_OPTIONS,
    )
    bundled = (args.base_url is None and args.engine is None) or args.bundled_settings
    config = apply_graph_options(config, args, bundled=bundled)
    for method in methods:
        try:
            catts_config(method, 1, config)  # a region no config allows (model without --grounded) fails here
        except ValueError as e:
            raise InvalidInputError(f"--methods {method}: {e}") from None
    return EvalJob(
        benchmark=args.benchmark,
        out=args.out,
        settings=EvalSettings(tuple(methods), tuple(ns), config, args.concurrency),
        limit=args.limit,
        resume=args.resume,
        skip_bad_lines=args.skip_bad_lines,
        allow_remote_images=args.allow_remote_images,
        judge=None if args.rh_auc else judge_from(args.judge_base_url, args.judge_model),
        rh_budgets=budgets,
        shard=_shard_of(args),
    )


def _shard_of(args: argparse.Namespace) -> tuple[int, int] | None:
    shard = shard_from(args.shard)
    if shard is not None and args.rh_auc:
        raise InvalidInputError("--shard splits the methods' items; run --rh-auc in one process")
    return shard


def run(args: argparse.Namespace) -> int:
    job, servers = job_from(args), servers_from(args)
    if not (servers.expert_base_url or (servers.bundled and args.engine is None)):  # no expert will be there
        require_expert(job.settings.methods, None)
    eval_run = open_run(job)
    for problem in eval_run.bench.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    if job.rh_budgets:
        return _rh(eval_run, servers)
    if args.engine is not None:
        models = _in_process_models(args.engine, servers)
        print(_settings(job, models.relevance is not None, True), file=sys.stderr)
        asyncio.run(_evaluate(eval_run, models))
    else:
        with model_endpoints(servers, want_expert=job.needs_expert, timeout=600) as endpoints:
            print(_settings(job, endpoints.relevance is not None, servers.settings_bundled), file=sys.stderr)
            asyncio.run(_evaluate(eval_run, served_models(endpoints), hint=not servers.settings_bundled))
    outputs = eval_run.write_outputs()
    print(table(outputs.metrics))
    written = outputs.written
    print(f"\nwrote {eval_run.results.path}, {', '.join(written[:-1])} and {written[-1]}")
    if outputs.plots_missing:
        print(outputs.plots_missing, file=sys.stderr)
    for warning in outputs.warnings:
        print(f"{warning} (each line's `fallbacks` in results.jsonl)", file=sys.stderr)
    return 0


def served_models(endpoints: Endpoints) -> EvalModels:
    """The models an evaluation calls on the servers `endpoints` reach."""
    return EvalModels(
        endpoints.client(timeout_s=600),
        endpoints.model or endpoints.base_url,
        endpoints.expert,
        endpoints.expert_name,
        endpoints.relevance,
        endpoints.expert_model,
    )


def _in_process_models(engine: Path, servers: Servers) -> EvalModels:
    """`--engine`: the base model runs here (transformers), and is its own expert unless --expert-base-url is given."""
    if not (engine / "config.json").is_file():
        raise InvalidInputError(f"--engine {engine} is not a model folder (no config.json).")
    try:
        from catts_graph.serving.engine import TransformersEngine
    except ImportError as e:
        raise InvalidInputError(f"--engine needs the `cpu` extra ({e}).") from None
    expert, expert_model = chat_expert(servers, timeout=600), expert_client(servers, timeout=600)
    relevance = load_relevance(servers.clip, bundled=True)
    name, expert_name = f"in-process {engine}", servers.expert_model or "base model"
    return EvalModels(TransformersEngine(engine), name, expert, expert_name, relevance, expert_model, engine)


def _settings(job: EvalJob, relevance: bool, bundled: bool) -> str:
    return settings_line(job.settings.config, relevance=relevance, bundled_settings=bundled, ns=job.settings.ns)


async def _evaluate(run: EvalRun, models: EvalModels, *, hint: bool = False) -> None:
    """Evaluate with a progress bar; with `hint`, first warn when the server serves a bundled model by name."""
    if hint and isinstance(models.model, VLLMClient):
        with contextlib.suppress(ModelError):  # an unreachable server is reported by the evaluation itself
            warning = bundled_hint(await models.model.list_models())
            if warning:
                print(warning, file=sys.stderr)
    try:
        with tqdm(total=len(run.remaining()), desc="eval", unit="item", file=sys.stderr) as bar:
            await run.evaluate(models, on_item=bar.update)
    finally:
        for client in {id(m): m for m in (models.model, models.expert_model) if isinstance(m, VLLMClient)}.values():
            await client.aclose()


def _rh(run: EvalRun, servers: Servers) -> int:
    with model_endpoints(servers, want_expert=False, timeout=600) as endpoints:
        asyncio.run(_sweep(run, endpoints.client(timeout_s=600)))
    summary, missing = run.write_rh_outputs()
    print(f"{'budget':>7} {'R (reasoning)':>14} {'H (perception)':>15} {'tokens':>7}")
    for row in summary["budgets"]:
        print(
            f"{row['budget']:>7} {100 * row['reasoning_accuracy']:>13.1f}% {100 * row['perception_accuracy']:>14.1f}% "
            f"{row['mean_completion_tokens']:>7.1f}"
        )
    out = run.job.out
    print(f"RH-AUC {summary['rh_auc']:.3f}; wrote {out / 'rh_auc.json'}" + ("" if missing else " and rh_auc.png"))
    if missing:
        print(missing, file=sys.stderr)
    return 0


async def _sweep(run: EvalRun, client: VLLMClient) -> None:
    async with client as model:
        with tqdm(total=len(run.remaining()), desc="rh-auc", unit="item", file=sys.stderr) as bar:
            await run.sweep_rh(model, on_item=bar.update)
