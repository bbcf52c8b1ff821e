"""`catts make-tiny-model DIR`: build a small random-init Qwen2.5-VL that vLLM serves (the smoke-test model)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nodes.errors import InvalidInputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "make-tiny-model",
        help="build a small random-init Qwen2.5-VL with its own tokenizer",
        description="Build a small Qwen2.5-VL (random weights, byte-level BPE tokenizer trained in-process, chat "
        "template, Qwen2_5_VLProcessor) and save it where vLLM and transformers can load it. The same seed gives "
        "byte-identical files. Needs the `cpu` (or `gpu`) extra for torch and transformers.",
        epilog="example:\n  catts make-tiny-model models/tiny && catts serve models/tiny",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", metavar="DIR", type=Path, help="output folder (created; must be empty or absent)")
    p.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty DIR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out_dir
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
        raise InvalidInputError(f"{out} exists and is not empty; pass --force to overwrite it or pick another DIR.")
    try:
        from catts_graph.shapes.tiny_vlm import count_parameters, make_tiny_model

        path = make_tiny_model(out, seed=args.seed)
    except ImportError as e:
        raise InvalidInputError(
            f"building models needs torch and transformers ({e}); run `uv sync --extra cpu`."
        ) from None
    print(f"saved a {count_parameters(path):,}-parameter Qwen2.5-VL to {path}")
    return 0
