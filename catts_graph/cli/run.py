"""`catts run`: CA-TTS on one image question against a vLLM server; a readable report, or one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from catts_graph.cli.endpoints import Endpoints, model_endpoints
from catts_graph.cli.options import (
    add_clip_option,
    add_gate_options,
    add_graph_options,
    add_server_options,
    apply_graph_options,
    routing_from,
    servers_from,
)
from catts_graph.cli.settings import settings_line
from catts_graph.cli.values import add_min_p_option, validated_config
from catts_graph.evaluation.results import finite_json
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV
from nodes.images import fetch_image
from nodes.inputs import validate_input
from nodes.steps import step_summary

EPILOG = f"""\
examples:
  catts run --image shapes.png --question "How many circles are there?"     bundled ShapesVQA models
  catts run --base-url http://127.0.0.1:8000 --image shapes.png --question "How many circles are there?"
  catts run --base-url URL --image chart.png --question "Which bar is tallest?" --choices red green blue --json
  catts run --base-url URL --image x.png --question Q --policy adaptive --min-share 0.8
  catts run --base-url URL --image x.png --question Q --expert-base-url http://127.0.0.1:8001 --expert-model big

Without --base-url the bundled ShapesVQA base model and expert are served on loopback for the run. With --base-url
the expert (Planner/Voter/Critic) is the base model itself unless --expert-base-url is given; API keys are read
from ${API_KEY_ENV} (base server) and ${EXPERT_KEY_ENV} (expert), never printed. --json prints one object with
answer, confidence, modules_run, votes, tokens, model_calls, expert_calls, wall_s, routes and fallbacks.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="answer one image question with CA-TTS",
        description="Sample N answers, vote with confidence, ask the expert to vote and critique, check the answer "
        "against a noised image, and print the final answer with its confidence.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="image file (repeatable)")
    p.add_argument("--allow-remote-images", action="store_true", help="download --image http(s) URLs (refused)")
    p.add_argument("--question", required=True, help="the question about the image")
    p.add_argument("--choices", nargs="+", metavar="OPTION", help="multiple-choice options (answer is a letter)")
    p.add_argument("--answer-type", choices=["integer", "float", "text", "choice"], help="how to read answers")
    add_server_options(p, expert=True)
    p.add_argument(
        "--policy",
        choices=["paper", "adaptive", "sequential"],
        default="paper",
        help="routing: paper (run all), adaptive (stop at N/2 and skip modules when decisive), sequential (draw "
        "rounds of 2, 4, 8, ... until settled, then as adaptive) (default: paper)",
    )
    p.add_argument("--n", type=int, default=8, help="samples per question (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    add_min_p_option(p)
    p.add_argument("--max-tokens", type=int, default=256, help="tokens per sample (default: %(default)s)")
    add_gate_options(
        p,
        share_help="adaptive: stop sampling at N/2, or skip a module, at this share",
        confidence_help="adaptive: and at this NMLP confidence (default: unchecked)",
    )
    p.add_argument("--no-voter", action="store_true", help="do not ask the expert to vote")
    p.add_argument("--no-critic", action="store_true", help="leave out the critic")
    p.add_argument("--no-self-check", action="store_true", help="leave out the visual self-check")
    p.add_argument("--planner", action="store_true", help="let the expert order the modules")
    add_graph_options(p)
    add_clip_option(p)
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.add_argument("--stream", action="store_true", help="show each stage, the running votes and routes live (stderr)")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> CATTSConfig:
    config = validated_config(
        {
            "sampling": {
                "n": args.n,
                "temperature": args.temperature,
                "min_p": args.min_p,
                "max_tokens": args.max_tokens,
            },
            "vote": {"voter": not args.no_voter},
            "critic": {"enabled": not args.no_critic},
            "self_check": {"enabled": not args.no_self_check},
            "planner": {"enabled": args.planner},
            "routing": routing_from(args, args.policy),
        },
        {
            "sampling.n": "--n",
            "sampling.temperature": "--temperature",
            "sampling.min_p": "--min-p",
            "sampling.max_tokens": "--max-tokens",
        },
    )
    return apply_graph_options(config, args, bundled=args.base_url is None or args.bundled_settings)


def result_json(out: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """The `catts run --json` object (contract: answer, confidence, modules_run, votes, tokens, model_calls,
    wall_s; each sample with its answer, confidence, weakest step and steps)."""
    usage = out.get("usage") or {}
    samples = out.get("samples") or []
    result: dict[str, Any] = finite_json(
        {
            "answer": out.get("answer"),
            "confidence": out.get("confidence"),
            "modules_run": out.get("modules_run", []),
            "votes": out.get("votes", {}),
            "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "model_calls": usage.get("model_calls", 0),
            "expert_calls": usage.get("expert_calls", 0),
            "wall_s": round(wall_s, 3),
            "routes": out.get("routes", []),
            "fallbacks": out.get("fallbacks", []),
            "unparseable": sum(s["answer"] is None for s in samples),
            "samples": [
                {
                    "answer": s["answer"],
                    "confidence": s["confidence"],
                    "weakest_step": s.get("weakest_step"),
                    "steps": [step_summary(step) for step in s.get("steps", [])],
                }
                for s in samples
            ],
            "critique": out.get("critique"),
            "self_check": out.get("self_check"),
            "settings": out.get("settings"),
        }
    )
    return result


async def answer(args: argparse.Namespace, inputs: Any, endpoints: Endpoints, config: CATTSConfig) -> dict[str, Any]:
    async with endpoints.client(timeout_s=args.timeout) as model:
        graph = create_catts_graph(model, expert=endpoints.expert, config=config, relevance=endpoints.relevance)
        started = time.perf_counter()
        if not args.stream:
            return result_json(dict(await graph.ainvoke(inputs)), time.perf_counter() - started)
        out: dict[str, Any] = {}
        parts: Any = graph.astream(inputs, stream_mode=["updates", "custom", "values"])
        async for mode, chunk in parts:
            if mode == "values":
                out = dict(chunk)
            else:
                print(live_line(mode, chunk, time.perf_counter() - started), file=sys.stderr, flush=True)
        return result_json(out, time.perf_counter() - started)


def live_line(mode: str, chunk: dict[str, Any], elapsed: float) -> str:
    """One line of `catts run --stream`: a stage that finished, or an event (votes, route, final)."""
    if mode == "updates":
        return f"{elapsed:6.2f}s  stage  {', '.join(chunk)}"
    event = dict(chunk)
    kind = event.pop("event", "event")
    if kind == "votes":
        shares = ", ".join(f"{a}: {v:.2f}" for a, v in list(event.get("shares", {}).items())[:4])
        return f"{elapsed:6.2f}s  votes  after {event.get('after')}: leader {event.get('leader')} ({shares})"
    if kind == "route":
        return f"{elapsed:6.2f}s  route  -> {event.get('next')}: {event.get('reason')}"
    if kind == "steps":
        weakest = [min((step["confidence"] for step in steps), default=float("nan")) for steps in event["samples"]]
        return f"{elapsed:6.2f}s  steps  weakest step per sample: {', '.join(f'{w:.2f}' for w in weakest)}"
    details = ", ".join(f"{k}={v}" for k, v in event.items() if not isinstance(v, dict | list))
    return f"{elapsed:6.2f}s  {kind:6} {details}"


def print_report(result: dict[str, Any]) -> None:
    conf = result["confidence"]
    print(f"answer      : {result['answer']}")
    print(f"confidence  : {conf:.3f} (share of the vote table)" if conf is not None else "confidence  : -")
    print(f"modules run : {', '.join(result['modules_run'])}")
    votes = ", ".join(f"{a}: {v:.3f}" for a, v in sorted(result["votes"].items(), key=lambda kv: -kv[1]))
    print(f"votes       : {votes or '-'}  ({result['unparseable']} unparseable samples)")
    for route in result["routes"]:
        print(f"route       : after {route['after']} -> {route['next']}: {route['reason']}")
    for fallback in result["fallbacks"]:
        print(f"fallback    : {fallback}")
    print(
        f"cost        : {result['tokens']} tokens, {result['model_calls']} model calls, "
        f"{result['expert_calls']} expert calls, {result['wall_s']:.2f} s"
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # a bad option value is refused before anything is read
    remote = ("http://", "https://")
    images = [fetch_image(i) if args.allow_remote_images and i.startswith(remote) else i for i in args.image]
    inputs = validate_input(
        {"question": args.question, "images": images, "choices": args.choices, "answer_type": args.answer_type}
    )
    servers = servers_from(args)
    with model_endpoints(servers, want_expert=True, timeout=args.timeout) as endpoints:
        in_force = settings_line(
            config, relevance=endpoints.relevance is not None, bundled_settings=servers.settings_bundled
        )
        print(in_force, file=sys.stderr)
        result = asyncio.run(answer(args, inputs, endpoints, config))
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_report(result)
    return 0
