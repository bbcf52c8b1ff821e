"""`catts data pairs`: CDRL training records, each item's clean image with its question-guided noised twin (and
`catts data labels`, in its own module)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli import data_labels
from catts_graph.cli.options import add_benchmark_option, add_clip_option
from catts_graph.perception.regions import REGIONS
from nodes.errors import InvalidInputError
from nodes.perturb import KINDS

EPILOG = """\
examples:
  catts data pairs --benchmark shapes:100 --limit 2000 --out data/cdrl-pairs            # CLIP-guided DDPM noise
  catts data pairs --benchmark jsonl:data/items.jsonl --kind occlusion --level 1 --region objects --out DIR

Writes DIR/pairs.jsonl (id, question, image, noised_image, answer, answer_type, choices, noise) and DIR/images/.
--region question uses the bundled ShapesVQA CLIP unless --clip names another (a folder or open_clip:ARCH[:TAG]).
"""


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="build training data", description="Build training data from a benchmark.")
    data_sub = p.add_subparsers(dest="data_command", metavar="WHAT", required=True)
    pairs = data_sub.add_parser(
        "pairs",
        help="clean/noised image pairs for CDRL",
        description="Turn a benchmark into CDRL records: the clean image and a noised twin whose evidence region "
        "is destroyed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_option(pairs, default="shapes:100")
    pairs.add_argument("--limit", type=int, help="first K items only")
    pairs.add_argument("--kind", choices=KINDS, default="ddpm", help="perturbation (default: %(default)s)")
    pairs.add_argument("--level", type=float, default=0.5, help="strength in (0, 1] (default: %(default)s)")
    pairs.add_argument("--region", choices=REGIONS, default="question", help="where (default: %(default)s)")
    pairs.add_argument("--top-fraction", type=float, default=0.25, help="--region question: share of patches")
    add_clip_option(pairs, purpose="--region question", default="the bundled ShapesVQA CLIP")
    pairs.add_argument("--seed", type=int, default=0, help="noise seed (default: %(default)s)")
    pairs.add_argument("--out", type=Path, required=True, help="output folder")
    pairs.set_defaults(handler=run_pairs)
    data_labels.register(data_sub)


def run_pairs(args: argparse.Namespace) -> int:
    from catts_graph.cli.endpoints import load_relevance
    from trainers.cdrl.data import PairNoise, build_pairs

    noise = PairNoise(args.kind, args.level, args.region, args.top_fraction, args.seed)
    if (args.out / "pairs.jsonl").exists():
        raise InvalidInputError(f"{args.out} already holds pairs.jsonl; pick a new --out.")
    bench = load_benchmark(args.benchmark, limit=args.limit)
    relevance = load_relevance(args.clip, bundled=True, required=True) if args.region == "question" else None
    with tqdm(total=len(bench.items), desc="pairs", unit="item", file=sys.stderr) as bar:
        path = build_pairs(bench.items, args.out, noise, relevance=relevance, on_item=bar.update)
    print(f"wrote {len(bench.items)} pairs to {path}")
    return 0
