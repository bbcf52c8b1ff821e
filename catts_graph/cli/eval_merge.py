"""`catts eval merge DIR... --out DIR`: join the shard folders of one `catts eval --shard I/K` run into one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from catts_graph.cli.values import CommandParser
from catts_graph.evaluation.merge import merge_runs
from catts_graph.evaluation.report import table

MERGE_HELP = """\
Join the shard folders of one run (`catts eval ... --shard I/K --out DIR` for I = 0..K-1) into one run folder:
results.jsonl, run.json, metrics.json, report.md and plots, computed as a single run computes them.

  catts eval --benchmark shapes --limit 300 --methods majority,catts-paper --n 16 --shard 0/2 --out runs/s0
  catts eval --benchmark shapes --limit 300 --methods majority,catts-paper --n 16 --shard 1/2 --out runs/s1
  catts eval merge runs/s0 runs/s1 --out runs/all

Every shard must be complete (finish one with --resume) and come from the same command but for --shard.
"""


def merge_parser() -> argparse.ArgumentParser:
    """`catts eval merge`'s own parser (`catts eval` itself takes no positional arguments)."""
    p = CommandParser(
        prog="catts eval merge", description=MERGE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("shards", type=Path, nargs="+", metavar="DIR", help="the shard folders, one per --shard I/K")
    p.add_argument("--out", type=Path, required=True, help="the merged run's folder (must not hold a run)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.set_defaults(handler=run_merge, command="eval merge")
    return p


def run_merge(args: argparse.Namespace) -> int:
    merged = merge_runs(args.shards, args.out)
    print(table(merged.outputs.metrics))
    written = merged.outputs.written
    print(f"\nmerged {len(args.shards)} shards ({merged.info['n_items']} items) into {args.out}: results.jsonl, "
          f"run.json, {', '.join(written)}")  # fmt: skip
    for warning in merged.outputs.warnings:
        print(f"{warning} (each line's `fallbacks` in results.jsonl)", file=sys.stderr)
    return 0
