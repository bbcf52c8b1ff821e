"""The declared-confidence experiment's targets from two runs of eval.sh (docs/experiments/declared-confidence.md).

usage: uv run --no-sync python docs/experiments/declared/compare.py runs/declared BASE_NAME MODEL_NAME
Prints, as Markdown: greedy accuracy (paired CI against the base), ECE / AUROC / Brier of each run's declared greedy
confidence, CA-TTS (catts-paper, N = 8) against the base's and against its own majority vote (paired CIs), and the
probe's drops (own answer, level 1) of NMLP and of the declared confidence, absolute and relative to clean.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from catts_graph.evaluation.metrics import auroc, brier, ece, paired_bootstrap_ci


def lines(run: Path) -> dict[tuple[str, int], dict[str, dict]]:
    out: dict[tuple[str, int], dict[str, dict]] = {}
    for raw in (run / "results.jsonl").read_text().splitlines():
        row = json.loads(raw)
        out.setdefault((row["method"], row["n"]), {})[row["id"]] = row
    return out


def paired(a: dict[str, dict], b: dict[str, dict]) -> str:
    ids = sorted(set(a) & set(b))
    diff, low, high = paired_bootstrap_ci([float(a[i]["correct"]) for i in ids], [float(b[i]["correct"]) for i in ids])
    return f"{100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] (n = {len(ids)})"


def calibration(rows: dict[str, dict]) -> str:
    conf = [float(r["confidence"]) for r in rows.values()]
    ok = [float(r["correct"]) for r in rows.values()]
    accuracy = 100 * sum(ok) / len(ok)
    return f"{accuracy:.1f}% | {ece(conf, ok):.3f} | {auroc(conf, ok):.3f} | {brier(conf, ok):.3f}"


def main(root: str, base: str, model: str) -> None:
    runs = {name: lines(Path(root) / f"eval-{name}") for name in (base, model)}
    print("| run | method | accuracy | ECE | AUROC | Brier | declared source |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, run in runs.items():
        for key in (("greedy", 1), ("majority", 8), ("catts-paper", 8)):
            if key in run:
                sources = {r.get("confidence_source", "vote share") for r in run[key].values()}
                print(f"| {name} | {key[0]} (N = {key[1]}) | {calibration(run[key])} | {', '.join(sorted(sources))} |")
    print()
    print(f"- greedy, {model} - {base}: {paired(runs[model][('greedy', 1)], runs[base][('greedy', 1)])}")
    if ("catts-paper", 8) in runs[model]:
        print(
            f"- catts-paper N = 8, {model} - {base}: "
            f"{paired(runs[model][('catts-paper', 8)], runs[base][('catts-paper', 8)])}"
        )
        print(
            f"- catts-paper - majority at N = 8, {model}: "
            f"{paired(runs[model][('catts-paper', 8)], runs[model][('majority', 8)])}"
        )
    print()
    print("| run | kind | accuracy drop | NMLP drop | NMLP / clean | declared (source) drop | declared / clean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in (base, model):
        path = Path(root) / f"probe-{name}" / "probe.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        source = summary.get("confidence_source", "?")
        for kind, d in summary["drop"].items():
            nmlp = f"{d['nmlp']:+.3f} | {100 * d['nmlp_relative']:+.1f}%"
            declared = f"{d['declared']:+.3f} ({source}) | {100 * d['declared_relative']:+.1f}%"
            print(f"| {name} | {kind} | {100 * d['accuracy']:+.1f} | {nmlp} | {declared} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
