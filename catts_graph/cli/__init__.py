"""The `catts` command line. Each subcommand lives in its own module; this one dispatches and reports errors.

User errors (a bad option value, bad input, unreachable server, failed server start) print one clear line to stderr
and exit 2 without a traceback (`cli.values`); `--debug` shows the traceback too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from types import FrameType

from catts_graph.cli import (
    bench,
    calibrate,
    data,
    demo,
    eval_merge,
    evaluate,
    make_model,
    probe,
    run,
    serve,
    shapes,
    train,
)
from catts_graph.cli.values import CommandParser
from nodes.errors import CattsError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
_COMMANDS = (run, evaluate, calibrate, probe, bench, serve, shapes, data, train, make_model, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="catts",
        description=(
            "Confidence-Aware Test-Time Scaling for vision-language models, on a local vLLM server.\n\n"
            "Start here (without --base-url a command serves the bundled ShapesVQA models on loopback):\n"
            "  catts demo                                         CA-TTS vs greedy vs majority on held-out ShapesVQA "
            "items, end to end\n"
            "  catts run --image x.png --question Q               answer one image question with CA-TTS\n"
            "  catts eval --limit 20 --out runs/first             compare test-time-scaling methods: accuracy, "
            "calibration, cost, scaling\n"
            "  catts serve catts_graph/shapes/models/shapes-base  serve a model with vLLM (OpenAI-compatible) on "
            "loopback"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.register(sub)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """The command's arguments; the words after the first ``--`` become `passthrough` (`catts serve` hands them to
    vLLM unchanged), whichever options come before it. ``catts eval merge`` has a parser of its own."""
    words = list(argv)
    debug = words[:1] == ["--debug"]
    if words[debug : debug + 2] == ["eval", "merge"]:  # `catts eval merge DIR...`: its own parser
        args = eval_merge.merge_parser().parse_args(words[debug + 2 :])
        args.debug = args.debug or debug
        return args
    if "--" not in words:
        return parser.parse_args(words)
    cut = words.index("--")
    args = parser.parse_args(words[:cut])
    if not hasattr(args, "passthrough"):
        parser.error(f"catts {args.command} takes nothing after --")
    args.passthrough = words[cut + 1 :]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `catts` console script."""
    parser = build_parser()
    args = parse(parser, sys.argv[1:] if argv is None else argv)
    # Torch's OpenMP threads spin between operations by default; beside a vLLM server or another training on a few
    # cores they take the cores from each other (docs/performance.md). Set before any command imports torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # SIGTERM unwinds like Ctrl-C, so every server this process started is stopped by its `finally`.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return int(args.handler(args) or 0)
    except CattsError as e:
        if args.debug:
            traceback.print_exc()
        print(f"catts {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"catts {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
