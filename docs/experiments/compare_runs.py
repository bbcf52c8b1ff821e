"""Lab: two `catts eval` runs of different base models on the same items, compared with paired bootstrap CIs.

    python docs/experiments/compare_runs.py runs/cdrl/eval-paper runs/v2d/eval500

For each method@N both runs hold: the accuracy difference (A - B); for greedy also the ECE and AUROC differences of
both declared confidences (exp(mean log-prob), the line's `confidence`, and P(answer | rationale),
`answer_probability`, where both runs recorded it). Items are resampled jointly (the same items in both runs).
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from catts_graph.evaluation.metrics import auroc, ece, paired_bootstrap_ci, paired_metric_ci


def lines(run: str) -> dict[tuple[str, int], dict[str, dict]]:  # type: ignore[type-arg]
    out: dict[tuple[str, int], dict[str, dict]] = defaultdict(dict)  # type: ignore[type-arg]
    for line in map(json.loads, (Path(run) / "results.jsonl").read_text().splitlines()):
        out[(line["method"], line["n"])][line["id"]] = line
    return out


def finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0


def main() -> None:
    a, b = lines(sys.argv[1]), lines(sys.argv[2])
    for key in sorted(set(a) & set(b)):
        ids = sorted(set(a[key]) & set(b[key]))
        ok_a = [float(a[key][i]["correct"]) for i in ids]
        ok_b = [float(b[key][i]["correct"]) for i in ids]
        diff, low, high = paired_bootstrap_ci(ok_a, ok_b, n_boot=5000)
        won = sum(x > y for x, y in zip(ok_a, ok_b, strict=True))
        lost = sum(x < y for x, y in zip(ok_a, ok_b, strict=True))
        print(f"{key[0]}@{key[1]} ({len(ids)} items): accuracy {100 * sum(ok_a) / len(ids):.1f} vs "
              f"{100 * sum(ok_b) / len(ids):.1f}, {100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] "
              f"(fixes {won}, breaks {lost})")  # fmt: skip
        if key[0] != "greedy":
            continue
        forms = ["confidence"] + (["answer_probability"] if all("answer_probability" in a[key][i] and
                                  "answer_probability" in b[key][i] for i in ids) else [])  # fmt: skip
        for form in forms:
            conf_a = [finite(a[key][i][form]) for i in ids]
            conf_b = [finite(b[key][i][form]) for i in ids]
            for name, metric in (("ECE", ece), ("AUROC", auroc)):
                d, lo, hi = paired_metric_ci(metric, (conf_a, ok_a), (conf_b, ok_b))
                print(f"  {form} {name}: {metric(conf_a, ok_a):.3f} vs {metric(conf_b, ok_b):.3f}, "
                      f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")  # fmt: skip


if __name__ == "__main__":
    main()
