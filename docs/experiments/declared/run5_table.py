"""Lab: run 5's paired table, two `catts eval` runs on the same items (docs/experiments/declared-confidence.md).

    python docs/experiments/declared/run5_table.py runs/declared/eval5-d4 runs/declared/eval5-base

On the items both runs finished with every method: each method's accuracy in both runs and the paired difference
(new - base, paired bootstrap over items); CA-TTS against majority vote within each run; the greedy line's declared
confidence (the new model's statement, the base's exp(mean log-prob)) with ECE, AUROC and Brier, a bootstrap interval
for the new model's ECE and AUROC alone and the paired differences against the base; the statements' origins and the
cost (tokens and calls per item) of every line.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.metrics import auroc, brier, ece, paired_bootstrap_ci, paired_metric_ci

Lines = dict[tuple[str, int], dict[str, dict]]  # type: ignore[type-arg]
GREEDY, MAJORITY, CATTS = ("greedy", 1), ("majority", 8), ("catts-paper", 8)


def read(run: str) -> Lines:
    out: Lines = {}
    for text in (Path(run) / "results.jsonl").read_text().splitlines():
        if text.strip():
            line = json.loads(text)
            out.setdefault((line["method"], line["n"]), {})[line["id"]] = line
    return out


def interval(metric: Callable[[Sequence[float], Sequence[float]], float], conf: list[float], ok: list[float]) -> str:
    """The metric with a 95% bootstrap interval over items (1,000 resamples, seed 0)."""
    rng = np.random.default_rng(0)
    c, o = np.asarray(conf), np.asarray(ok)
    values = [metric(list(c[i]), list(o[i])) for i in rng.integers(0, len(c), size=(1000, len(c)))]
    low, high = np.quantile([v for v in values if math.isfinite(v)], [0.025, 0.975])
    return f"{metric(conf, ok):.3f} [{low:.3f}, {high:.3f}]"


def points(diff: float, low: float, high: float) -> str:
    return f"{100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def main(new_run: str, base_run: str) -> None:
    new, base = read(new_run), read(base_run)
    methods = (GREEDY, MAJORITY, CATTS)
    ids = sorted(set.intersection(*(set(run.get(m, {})) for run in (new, base) for m in methods)))
    print(f"{len(ids)} items finished by every method in both runs")
    ok = {(name, m): [float(run[m][i]["correct"]) for i in ids] for name, run in (("new", new), ("base", base))
          for m in methods}  # fmt: skip
    for m in methods:
        a, b = ok[("new", m)], ok[("base", m)]
        won = sum(x > y for x, y in zip(a, b, strict=True))
        lost = sum(x < y for x, y in zip(a, b, strict=True))
        print(f"{m[0]}@{m[1]}: new {100 * sum(a) / len(ids):.1f}%, base {100 * sum(b) / len(ids):.1f}%, new - base "
              f"{points(*paired_bootstrap_ci(a, b, n_boot=5000))} (fixes {won}, breaks {lost})")  # fmt: skip
    for name in ("new", "base"):
        diff = paired_bootstrap_ci(ok[(name, CATTS)], ok[(name, MAJORITY)], n_boot=5000)
        print(f"{name}: catts-paper@8 - majority@8 {points(*diff)}")
    conf = {name: [float(run[GREEDY][i]["confidence"]) for i in ids] for name, run in (("new", new), ("base", base))}
    for name in ("new", "base"):
        c, o = conf[name], ok[(name, GREEDY)]
        print(f"greedy {name} declared confidence: ECE {interval(ece, c, o)}, AUROC {interval(auroc, c, o)}, "
              f"Brier {brier(c, o):.3f}")  # fmt: skip
    pair = (conf["new"], ok[("new", GREEDY)]), (conf["base"], ok[("base", GREEDY)])
    for label, metric in (("ECE", ece), ("AUROC", auroc)):
        diff, low, high = paired_metric_ci(metric, *pair)
        print(f"greedy {label} new - base: {diff:+.3f} [{low:+.3f}, {high:+.3f}]")
    origins = Counter(new[GREEDY][i].get("stated_from") or "none" for i in ids)
    print(f"greedy new statements: {dict(origins)}")
    for name, run in (("new", new), ("base", base)):
        for m in methods:
            rows = [run[m][i] for i in ids]
            counts: Counter[str] = Counter()
            for row in rows:
                counts.update(row.get("statements") or {})
            sources = Counter(row.get("confidence_source") for row in rows)
            per_item = {key: sum(row[key] for row in rows) / len(rows) for key in ("tokens", "calls", "wall_s")}
            print(f"{name} {m[0]}@{m[1]}: tokens {per_item['tokens']:.0f}, calls {per_item['calls']:.1f}, wall "
                  f"{per_item['wall_s']:.1f} s per item; sources {dict(sources)}"
                  + (f"; sample statements {dict(counts)}" if counts else ""))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
