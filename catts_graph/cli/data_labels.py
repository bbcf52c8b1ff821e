"""`catts data labels`: the declared-confidence warm-up's labels from a served start model's answers on both views of
every training pair (`trainers.declared.labels`, `trainers.declared.label_fit`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.cli.options import add_server_options, servers_from
from catts_graph.cli.values import add_min_p_option, positive_int
from nodes.errors import InvalidInputError

EPILOG = """\
example (the start model served on loopback, or the bundled base model without --base-url):
  catts data labels --data runs/declared/pairs --base-url http://127.0.0.1:8301/v1 --out runs/declared/labels
  catts train cdrl --confidence stated --labels runs/declared/labels/labels.jsonl --sft-only \
      --model catts_graph/shapes/models/shapes-base --data runs/declared/pairs --out runs/declared/d4

Writes OUT/views.jsonl (per pair and view: the greedy response, whether it is right, its signals, and k, the samples
agreeing with it; an interrupted run resumes), OUT/label_fit.json (each label score's held-out AUROC, ECE and Brier
over --folds folds of the pairs, the choice and its fit on all views) and OUT/labels.jsonl (the views with their
label). --method picks a score instead of the best held-out AUROC.
"""


def register(data_sub: Any) -> None:
    p = data_sub.add_parser(
        "labels",
        help="labels of the declared-confidence warm-up, on both views of every pair",
        description="Answer both views of every training pair with the served start model (greedy and sampled), "
        "compare the label scores on held-out pairs, and label every view with the chosen one.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="a `catts data pairs` folder")
    add_server_options(p, expert=False, default="serve the bundled base model")
    p.add_argument("--samples", type=positive_int, default=8, help="sampled answers per view (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0, help="of the samples (default: %(default)s)")
    add_min_p_option(p)
    p.add_argument("--max-tokens", type=positive_int, default=128, help="per answer (default: %(default)s)")
    p.add_argument("--limit", type=positive_int, help="the first K pairs only")
    p.add_argument("--concurrency", type=positive_int, default=8, help="views in flight (default: %(default)s)")
    p.add_argument("--folds", type=int, default=5, help="folds of the held-out comparison (default: %(default)s)")
    p.add_argument(
        "--method", choices=["auto", "cells", "logistic"], default="auto", help="the label score (default: auto)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(handler=run_labels)


def run_labels(args: argparse.Namespace) -> int:
    from catts_graph.cli.endpoints import model_endpoints
    from trainers.declared.label_fit import choose, compare_labels, label_views
    from trainers.declared.labels import LABEL_FIT_FILE, LabelSettings, collect_views

    if not (args.data / "pairs.jsonl").exists():
        raise InvalidInputError(f"{args.data} holds no pairs.jsonl; make it with `catts data pairs`.")
    if args.folds < 2:
        raise InvalidInputError("--folds must be at least 2.")
    settings = LabelSettings(
        args.samples, args.temperature, args.max_tokens, 20, args.concurrency, args.limit, min_p=args.min_p
    )
    with (
        model_endpoints(servers_from(args), want_expert=False, timeout=300) as endpoints,
        tqdm(desc="views", unit="view", file=sys.stderr) as bar,
    ):
        rows = asyncio.run(
            collect_views(endpoints.client(timeout_s=300), args.data, args.out / "views.jsonl", settings, bar.update)
        )
    comparison = compare_labels(rows, args.folds)
    method = choose(comparison) if args.method == "auto" else args.method
    labels, fit = label_views(rows, method)
    summary = {"views": len(rows), "folds": args.folds, "held_out": comparison, "chosen": method, "fit": fit}
    (args.out / LABEL_FIT_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    lines = (json.dumps({**r, "label": label, "label_method": method}) for r, label in zip(rows, labels, strict=True))
    (args.out / "labels.jsonl").write_text("".join(line + "\n" for line in lines))
    for name, report in comparison.items():
        print(f"{name:9} held out: AUROC {report['auroc']:.3f} (stated {report['auroc_stated']:.3f}), ECE "
              f"{report['ece']:.3f} (stated {report['ece_stated']:.3f}), Brier {report['brier']:.3f}")  # fmt: skip
    print(f"labelled {len(rows)} views with {method}: {args.out / 'labels.jsonl'}")
    return 0
