"""`catts make-tiny-model DIR [--family NAME]`: build a small random-init VLM that vLLM serves (Qwen2.5-VL by default:
the smoke-test model; the other families prove the plumbing of each architecture)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catts_graph.families import FAMILIES, make_family_model
from catts_graph.serving.parameters import count_parameters
from nodes.errors import InvalidInputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "make-tiny-model",
        help="build a small random-init VLM (Qwen2.5-VL or another family) with its own tokenizer",
        description="Build a small VLM of one family (random weights, the family's config and processor, a "
        "byte-level BPE tokenizer trained in-process, a chat template in the family's style) and save it where vLLM "
        "and transformers can load it. The same seed gives the same weights. Needs the `cpu` (or `gpu`) extra for "
        "torch and transformers.",
        epilog="examples:\n  catts make-tiny-model models/tiny && catts serve models/tiny\n"
        "  catts make-tiny-model models/tiny-qwen2-vl --family qwen2-vl\n\n"
        "families: " + ", ".join(sorted(FAMILIES)) + " (docs/families.md: what each passes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", metavar="DIR", type=Path, help="output folder (created; must be empty or absent)")
    p.add_argument(
        "--family",
        choices=sorted(FAMILIES),
        default="qwen2.5-vl",
        metavar="NAME",
        help="model family: %(choices)s (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty DIR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out_dir
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
        raise InvalidInputError(f"{out} exists and is not empty; pass --force to overwrite it or pick another DIR.")
    try:
        path = make_family_model(args.family, out, seed=args.seed)
    except ImportError as e:
        raise InvalidInputError(
            f"building models needs torch and transformers ({e}); run `uv sync --extra cpu`."
        ) from None
    print(f"saved a {count_parameters(path):,}-parameter {FAMILIES[args.family].architecture} to {path}")
    return 0
