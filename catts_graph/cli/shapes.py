"""`catts shapes make`: write ShapesVQA items (the benchmark JSONL contract) and their PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catts_graph.shapes.world import write_items
from nodes.errors import InvalidInputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "shapes",
        help="the synthetic ShapesVQA world",
        description="ShapesVQA: 112x112 images of 0-6 coloured circles, squares and triangles, with counting and "
        "largest-colour questions. The same seed gives byte-identical files.",
    )
    shapes_sub = p.add_subparsers(dest="shapes_command", metavar="ACTION", required=True)
    make = shapes_sub.add_parser(
        "make",
        help="write N items to DIR/items.jsonl and DIR/images/",
        description="Write N ShapesVQA items as DIR/items.jsonl (id, image, question, answer, answer_type, plus "
        "question_type and object boxes) and DIR/images/*.png. Seeds below 10,000 are never used for training.",
        epilog="example:\n  catts shapes make --n 200 --seed 1 --out data/shapes-dev",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    make.add_argument("--n", type=int, required=True, help="number of items")
    make.add_argument("--seed", type=int, default=1, help="world seed (default: %(default)s)")
    make.add_argument("--size", type=int, default=112, help="image side in pixels (default: %(default)s)")
    make.add_argument("--out", type=Path, required=True, help="output folder")
    make.set_defaults(handler=run_make)


def run_make(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise InvalidInputError("--n must be at least 1.")
    if args.size < 28:
        raise InvalidInputError("--size must be at least 28 pixels.")
    path = write_items(args.out, n=args.n, seed=args.seed, size=args.size)
    print(f"wrote {args.n} items to {path}")
    return 0
