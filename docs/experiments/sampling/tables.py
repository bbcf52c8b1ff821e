"""Lab: the tables of docs/experiments/sampling.md, from the runs of sweep.sh.

    python docs/experiments/sampling/tables.py dev runs/sampling/dev --baseline t1.0-p0 --json OUT.json
    python docs/experiments/sampling/tables.py heldout runs/sampling/test-t1.0-p0 runs/sampling/test-CHOSEN --json OUT
    python docs/experiments/sampling/tables.py futile runs/sampling/test-t1.0-p0 --json OUT.json

`dev`: every run folder under the sweep folder (named tT-pP), majority and catts-paper at N = 8: accuracy, and the
paired difference against the baseline run on the same items (other draws), with the project's paired bootstrap
(`paired_bootstrap_ci`: 2,000 resamples, 95%, seed 0). `heldout`: run B against run A on the items both finished.
`futile`: ``catts-paper`` against ``catts-paper+skip-futile`` of one run (the same draws): identical answers,
tokens, calls and compute (parameters x tokens, `mean_compute`) per item.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.compute import mean_compute
from catts_graph.evaluation.metrics import paired_bootstrap_ci

METHODS = ("majority", "catts-paper")


def lines(run: Path, n: int = 8) -> dict[str, dict[str, dict[str, Any]]]:
    """method -> item id -> result line, at N = `n`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for line in map(json.loads, (run / "results.jsonl").read_text().splitlines()):
        if line["n"] == n:
            out.setdefault(line["method"], {})[line["id"]] = line
    return out


def paired(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """B - A on the items both hold: accuracies, the difference with its CI, fixes and breaks, tokens per item."""
    ids = sorted(set(a) & set(b))
    ok_a = [float(a[i]["correct"]) for i in ids]
    ok_b = [float(b[i]["correct"]) for i in ids]
    diff, low, high = paired_bootstrap_ci(ok_b, ok_a)
    return {
        "items": len(ids),
        "accuracy_a": sum(ok_a) / len(ids),
        "accuracy_b": sum(ok_b) / len(ids),
        "difference": diff,
        "ci95": [low, high],
        "fixes": sum(y > x for x, y in zip(ok_a, ok_b, strict=True)),
        "breaks": sum(y < x for x, y in zip(ok_a, ok_b, strict=True)),
        "tokens_a": sum(a[i]["tokens"] for i in ids) / len(ids),
        "tokens_b": sum(b[i]["tokens"] for i in ids) / len(ids),
    }


def points(row: dict[str, Any]) -> str:
    low, high = row["ci95"]
    return f"{100 * row['difference']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def dev(folder: Path, baseline: str) -> dict[str, Any]:
    runs = {p.name: lines(p) for p in sorted(folder.iterdir()) if (p / "results.jsonl").exists()}
    base = runs[baseline]
    table: dict[str, Any] = {}
    print("| T | min-p | items | majority | catts-paper | majority vs baseline | catts-paper vs baseline | "
          "sample tokens/item |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, run in runs.items():
        temperature, min_p = name.removeprefix("t").split("-p")
        rows = {m: paired(base[m], run[m]) for m in METHODS}
        completion = sum(x["completion_tokens"] for x in run["majority"].values()) / len(run["majority"])
        table[name] = {"temperature": float(temperature), "min_p": float(min_p), "vs_baseline": rows,
                       "sample_completion_tokens": completion}  # fmt: skip
        cells = [f"{100 * rows[m]['accuracy_b']:.1f}" for m in METHODS]
        against = ["(baseline)" if name == baseline else points(rows[m]) for m in METHODS]
        print(f"| {temperature} | {min_p} | {rows['catts-paper']['items']} | {' | '.join(cells)} | "
              f"{' | '.join(against)} | {completion:.0f} |")  # fmt: skip
    return {"baseline": baseline, "runs": table}


def heldout(a: Path, b: Path) -> dict[str, Any]:
    run_a, run_b = lines(a), lines(b)
    table = {m: paired(run_a[m], run_b[m]) for m in METHODS}
    print(f"B = {b.name} against A = {a.name}, same items, other draws\n")
    print("| method | items | A | B | B - A (95% CI) | fixes | breaks | tokens/item A | B |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method, row in table.items():
        print(f"| {method} | {row['items']} | {100 * row['accuracy_a']:.1f} | {100 * row['accuracy_b']:.1f} | "
              f"{points(row)} | {row['fixes']} | {row['breaks']} | {row['tokens_a']:.0f} | "
              f"{row['tokens_b']:.0f} |")  # fmt: skip
    return {"a": a.name, "b": b.name, "methods": table}


def futile(run: Path) -> dict[str, Any]:
    by_method = lines(run)
    parameters = json.loads((run / "run.json").read_text()).get("parameters")
    full, skip = by_method["catts-paper"], by_method["catts-paper+skip-futile"]
    ids = sorted(set(full) & set(skip))
    same_answer = sum(full[i]["prediction"] == skip[i]["prediction"] for i in ids)
    skipped = sum(skip[i]["calls"] < full[i]["calls"] for i in ids)

    def mean(which: dict[str, dict[str, Any]], key: str) -> float:
        if key == "compute":
            return mean_compute([which[i] for i in ids], parameters)
        return sum(which[i][key] for i in ids) / len(ids)

    keys = ("tokens", "base_tokens", "expert_tokens", "calls", "expert_calls", "compute", "wall_s")
    summary = {k: {"full": mean(full, k), "skip_futile": mean(skip, k)} for k in keys}
    print(f"{run.name}: {len(ids)} items; same answer on {same_answer}; modules skipped on {skipped}\n")
    print("| per item | catts-paper | + skip-futile | saved |")
    print("| --- | ---: | ---: | ---: |")
    for key, row in summary.items():
        saved = 1 - row["skip_futile"] / row["full"] if row["full"] else 0.0
        print(f"| {key} | {row['full']:,.4g} | {row['skip_futile']:,.4g} | {100 * saved:.1f}% |")
    accuracy = {name: sum(w[i]["correct"] for i in ids) / len(ids) for name, w in (("full", full), ("skip", skip))}
    return {"run": run.name, "items": len(ids), "same_answer": same_answer, "modules_skipped_on": skipped,
            "accuracy": accuracy, "per_item": summary}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=["dev", "heldout", "futile"])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--baseline", default="t1.0-p0", help="dev: the run the others are compared with")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.table == "dev":
        result = dev(args.runs[0], args.baseline)
    elif args.table == "heldout":
        result = heldout(args.runs[0], args.runs[1])
    else:
        result = futile(args.runs[0])
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
