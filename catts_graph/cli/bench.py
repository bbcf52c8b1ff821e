"""`catts bench`: orchestration overhead, concurrency, log-prob cost, adaptive savings and early stop, in one run."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.bench_backends import bench_settings, recorded, recording_meta, replay_endpoints
from catts_graph.cli.endpoints import Endpoints, model_endpoints
from catts_graph.cli.options import add_server_options, csv_list, load_stop_rule, servers_from
from catts_graph.evaluation import bench
from catts_graph.evaluation.compute import format_compute
from catts_graph.evaluation.results import finite_json
from catts_graph.serving.replay_process import replaying
from catts_graph.serving.vllm_client import VLLMClient
from nodes.config import StopRule
from nodes.errors import InvalidInputError

TARGETS = {  # the targets on ShapesVQA with the bundled models (docs/experiments/bench.md)
    "overhead_ratio": ("<=", 1.10),
    "throughput_ratio": (">=", 0.90),
    "sequential_token_ratio": ("<=", 0.40),
    "sequential_accuracy_delta": (">=", -0.01),
    "slope_ratio": (">=", 2.0),
}

EPILOG = """\
examples:
  catts bench                               serve the bundled models; a table
  catts bench --json > bench.json           one JSON object (overhead_ratio, concurrency_speedup, ...)
  catts bench --base-url http://127.0.0.1:8000 --items 32 --concurrency 1,8,32
  catts bench --record runs/bench.replay.gz                 the same, every request and reply recorded
  catts bench --backend replay --recording runs/bench.replay.gz   the graph's own cost, the servers replayed

Backends: vllm (default) measures against real servers; on a small machine they share the client's cores, so the
overhead and throughput ratios also measure that contention. replay answers the recorded requests of a real run
(--record FILE; its own numbers include the recording proxy) from a loopback server with their recorded replies,
each after the shortest latency recorded for it, for next to no CPU: the graph's own cost as beside a GPU server.
It takes its settings from the recording; client CPU per item is reported by both backends.

Parts: overhead (graph runs vs the same HTTP requests sent directly; the graph's base model is its own expert
unless the bundled expert is served), concurrency (items per minute of majority + catts-paper at N, at each level;
at 16 also the same requests sent directly with 16 in flight), log-prob cost (the same sampling requests at
top_logprobs 0, 20 and the graph's k), savings (majority, catts-paper, catts-adaptive and catts-sequential at
N = 1, 2, 4, ... up to --n on the same samples; DeepConf online vs majority at --early-stop-n). Items are ShapesVQA,
world seed 2.

Headline ratios: overhead_ratio (graph / direct), throughput_ratio (evaluation items per minute at 16 over the same
requests sent directly at 16: how close to this machine's limit), sequential_token_ratio and
sequential_accuracy_delta (catts-sequential against catts-paper at --n), slope_ratio (catts-paper's slope of
accuracy against log2 of completion tokens over majority's), concurrency_speedup (16, or the highest level below
it, over level 1). --stop-rule sets catts-sequential's stopping rule (from `catts calibrate --stop`).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure overhead, throughput and token cost side by side",
        description="Measure the graph's orchestration overhead, throughput at several concurrency levels, the cost "
        "of log-probs, and the token savings of adaptive routing and early stopping, as ratios from one run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--items", type=int, default=16, help="ShapesVQA items per part (default: %(default)s)")
    p.add_argument("--n", type=int, default=16, help="samples per question (default: %(default)s)")
    p.add_argument("--early-stop-n", type=int, default=32, help="N of the DeepConf online part (default: 32)")
    p.add_argument(
        "--concurrency", type=csv_list, default="1,4,16,64", help="comma-separated levels (default: %(default)s)"
    )
    p.add_argument("--max-tokens", type=int, default=128, help="tokens per sample (default: %(default)s)")
    p.add_argument(
        "--stop-rule",
        type=Path,
        metavar="JSON",
        help="catts-sequential's stopping rule from `catts calibrate --stop --out` (default: first round 1, the "
        "expert's answer 1 vote, prior 1, threshold 0.85)",
    )
    add_server_options(p, expert=False, default="serve the bundled models")
    p.add_argument(
        "--backend",
        choices=["vllm", "replay"],
        default="vllm",
        help="vllm: real servers (--base-url, or the bundled models); replay: answer from --recording on loopback "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--record", type=Path, metavar="FILE", help="with --backend vllm: record every request and reply to FILE"
    )
    p.add_argument(
        "--recording", type=Path, metavar="FILE", help="with --backend replay: the recording of `catts bench --record`"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        levels = tuple(sorted({int(level) for level in args.concurrency}))
    except ValueError:
        raise InvalidInputError("--concurrency needs integers, e.g. --concurrency 1,4,16,64") from None
    if len(levels) < 2 or levels[0] != 1:
        raise InvalidInputError("--concurrency must include 1 (the baseline) and at least one more level.")
    if args.items < 2 or args.n < 2 or args.early_stop_n <= 16:
        raise InvalidInputError("--items and --n must be at least 2, --early-stop-n above 16 (the warm-up).")
    stop = StopRule() if args.stop_rule is None else load_stop_rule(args.stop_rule)
    settings = bench_settings(
        {"items": args.items, "n": args.n, "early_stop_n": args.early_stop_n, "concurrency": list(levels),
         "max_tokens": args.max_tokens, "stop_rule": stop.model_dump()}
    )  # fmt: skip
    started = time.perf_counter()
    if args.backend == "replay":
        result = _replayed(args)
    else:
        if args.recording is not None:
            raise InvalidInputError("--recording is for --backend replay; --record FILE makes one.")
        with model_endpoints(servers_from(args), want_expert=True, timeout=600) as endpoints:
            if args.record is None:
                result = _run(endpoints, settings)
            else:
                with recorded(endpoints, args.record, settings) as proxied:
                    result = _run(proxied, settings)
                result["backend"]["recording"] = str(args.record)
    result["wall_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(finite_json(result), indent=2))
    else:
        print(table(result))
    return 0


def _run(endpoints: Endpoints, settings: bench.BenchSettings) -> dict[str, Any]:
    items = load_benchmark("shapes", limit=settings.items).items
    result = asyncio.run(_measure(endpoints, items, settings))
    result["backend"] = {"kind": "vllm"}
    return result


def _replayed(args: argparse.Namespace) -> dict[str, Any]:
    """`--backend replay`: the recording's settings, measured against the replay server."""
    if args.recording is None or args.record is not None:
        raise InvalidInputError("--backend replay needs --recording FILE (from `catts bench --record FILE`).")
    meta = recording_meta(args.recording)
    settings = bench_settings(meta.get("settings") or {})
    with replaying(args.recording) as backend:
        result = _run(replay_endpoints(backend, meta), settings)
        stats = backend.stats()
    result["backend"] = {"kind": "replay", "recording": str(args.recording),
                         "server_cpu_s": backend.cpu_s, **stats}  # fmt: skip
    if stats["misses"]:
        print(f"warning: {stats['misses']} of {stats['requests']} requests were never recorded; they got a reply "
              "recorded for the same path, so this run is not quite the recorded one", file=sys.stderr)  # fmt: skip
    return result


async def _measure(endpoints: Any, items: list[Any], settings: bench.BenchSettings) -> dict[str, Any]:
    expert = endpoints.expert
    expert_endpoint = (expert.base_url, expert.name) if isinstance(expert, VLLMClient) else None
    with tqdm(total=4, desc="bench", unit="part", file=sys.stderr) as bar:

        def say(text: str) -> None:
            bar.set_postfix_str(text)

        say("overhead")
        overhead = await bench.overhead(endpoints.base_url, endpoints.model, expert_endpoint, items, settings.config)
        bar.update()

        def clients(http: httpx.AsyncClient) -> tuple[VLLMClient, Any]:  # both servers' requests recorded
            model = VLLMClient(endpoints.base_url, endpoints.model, http_client=http)
            recorded = expert if expert_endpoint is None else VLLMClient(*expert_endpoint, http_client=http)
            return model, recorded

        say("concurrency")
        concurrency = await bench.concurrency(clients, items, settings, say)
        bar.update()
        async with endpoints.client(timeout_s=600) as model:
            say("log-prob cost")
            logprobs = await bench.logprob_cost(model, items, settings)
            bar.update()
            say("savings")
            savings = await bench.savings(model, expert, items, settings)
            bar.update()
    levels = {row["concurrency"]: row for row in concurrency["levels"]}
    reference = concurrency["reference"]
    headline = {
        "overhead_ratio": overhead["overhead_ratio"],
        "throughput_ratio": levels[reference]["throughput_ratio"],
        "sequential_token_ratio": savings["sequential_token_ratio"],
        "sequential_accuracy_delta": savings["sequential_accuracy_delta"],
        "slope_ratio": savings["slope_ratio"],
        "concurrency_speedup": levels[reference]["speedup"],
        "adaptive_token_ratio": savings["adaptive_token_ratio"],
    }
    targets = {
        name: {"value": headline[name], "target": f"{op} {bound:g}", "met": _holds(headline[name], op, bound)}
        for name, (op, bound) in TARGETS.items()
    }
    return {
        **headline,
        "concurrency_speedup_level": reference,
        "targets": targets,
        "overhead": overhead,
        "concurrency": concurrency,
        "logprob_cost": logprobs,
        "savings": savings,
        "settings": {
            "items": settings.items,
            "n": settings.n,
            "early_stop_n": settings.early_stop_n,
            "stop_rule": settings.config.routing.stop.model_dump(),
            "concurrency": list(settings.concurrency),
            "max_tokens": settings.config.sampling.max_tokens,
        },
    }


def _backend_line(backend: dict[str, Any]) -> str:
    if backend["kind"] == "vllm":
        recording = backend.get("recording")
        return "backend: real servers" + (f", every exchange recorded to {recording}" if recording else "")
    return (
        f"backend: replay of {backend['recording']} ({backend['requests']} requests, {backend['misses']} never "
        f"recorded; the replay server used {backend['server_cpu_s']:.1f} s of CPU)"
    )


def _holds(value: float, op: str, bound: float) -> bool:
    return value <= bound if op == "<=" else value >= bound


def table(result: dict[str, Any]) -> str:
    """The human-readable report."""
    o, s = result["overhead"], result["savings"]
    lines = [
        (
            f"orchestration overhead: {o['overhead_ratio']:.3f}x ({o['items']} graph runs, {o['requests']} requests: "
            f"graph {o['graph_s']:.1f} s, same requests sent directly {o['direct_s']:.1f} s; completion tokens "
            f"{o['graph_completion_tokens']} vs {o['direct_completion_tokens']}; graph / its own time in calls "
            f"{o['in_call_ratio']:.3f}x; client CPU {1000 * o['client_cpu_per_item_s']:.0f} ms per graph run)"
        ),
        "",
        f"{'concurrency':>11} {'items':>6} {'items/min':>10} {'speedup':>8} {'CPU/item':>9}",
        *(
            f"{r['concurrency']:>11} {r['items']:>6} {r['items_per_min']:>10.1f} {r['speedup']:>7.2f}x "
            f"{1000 * r['client_cpu_per_item_s']:>7.0f}ms"
            + (
                f"   same {r['requests']} requests sent directly: {r['direct_s']:.1f} s vs {r['wall_s']:.1f} s "
                f"({r['throughput_ratio']:.3f} of this machine's limit)"
                if "throughput_ratio" in r
                else ""
            )
            for r in result["concurrency"]["levels"]
        ),
        "",
        f"{'top_logprobs':>12} {'s / 1k tokens':>14} {'vs 0':>7}",
        *(
            f"{r['top_logprobs']:>12} {r['s_per_1k_tokens']:>14.3f} {r['relative_to_0']:>6.2f}x"
            for r in result["logprob_cost"]["settings"]
        ),
        f"(the graph uses top_logprobs {result['logprob_cost']['graph_top_logprobs']})",
        "",
        (
            f"{'method':<16} {'N':>3} {'accuracy':>9} {'completion tok':>15} {'tokens':>8} {'compute':>9} "
            f"{'calls':>6} {'expert':>7}"
        ),
        *(
            f"{r['method']:<16} {r['n']:>3} {100 * r['accuracy']:>8.1f}% {r['completion_tokens']:>15.1f} "
            f"{r['tokens']:>8.1f} {format_compute(r['compute']):>9} {r['calls']:>6.1f} {r['expert_calls']:>7.1f}"
            for r in [*s["at_n"], *s["early_stop"]]
        ),
        *([] if s["cost"]["note"] is None else [f"compute (parameters x tokens) unknown: {s['cost']['note']}"]),
        (
            f"catts-adaptive / catts-paper completion tokens: {s['adaptive_token_ratio']:.3f} "
            f"(accuracy {100 * s['adaptive_accuracy_delta']:+.1f} points)"
        ),
        (
            f"catts-sequential / catts-paper completion tokens: {s['sequential_token_ratio']:.3f} "
            f"(accuracy {100 * s['sequential_accuracy_delta']:+.1f} points)"
        ),
        (
            "accuracy points per doubling of completion tokens: "
            + ", ".join(f"{m} {v:+.2f}" for m, v in s["token_slopes"].items())
            + f" (ratio {s['slope_ratio']:.2f})"
        ),
        (
            f"deepconf-online / majority completion tokens: {s['early_stop_token_ratio']:.3f} "
            f"(accuracy {100 * s['early_stop_accuracy_delta']:+.1f} points)"
        ),
        "",
        "targets:",
        *(
            f"  {name:<26} {t['value']:.3f} (target {t['target']}): {'met' if t['met'] else 'NOT met'}"
            for name, t in result["targets"].items()
        ),
        _backend_line(result["backend"]),
        f"wall time {result['wall_s']:.0f} s",
    ]
    return "\n".join(lines)
