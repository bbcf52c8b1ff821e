"""Lab: how a `catts eval` run of a stating model read its statements.

    python docs/experiments/declared/statement_table.py runs/declared/eval-d4

Per method, on the items every method finished (a run stopped early keeps what it finished): accuracy, ECE, AUROC
and Brier of the line's confidence, and CA-TTS against majority vote (paired bootstrap). Greedy: where each
statement came from (written, elicited, none), and the declared confidence's ECE and AUROC read as its expected value
(the line's `confidence`) and as the written digit (`stated_written`, the items that wrote one). Graph lines: the
samples' statements by origin, and the items where some sample still had no weight.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.metrics import auroc, brier, ece, paired_bootstrap_ci


def main(run: str) -> None:
    lines = [json.loads(line) for line in (Path(run) / "results.jsonl").read_text().splitlines() if line.strip()]
    methods = sorted({(line["method"], line["n"]) for line in lines})
    finished = set.intersection(*({line["id"] for line in lines if (line["method"], line["n"]) == m} for m in methods))
    lines = [line for line in lines if line["id"] in finished]
    by_method = {m: {line["id"]: line for line in lines if (line["method"], line["n"]) == m} for m in methods}
    ids = sorted(finished)
    for m in methods:
        correct = [float(by_method[m][i]["correct"]) for i in ids]
        confidence = [float(by_method[m][i]["confidence"]) for i in ids]
        print(f"{m[0]}@{m[1]} ({len(ids)} items): accuracy {100 * sum(correct) / len(ids):.1f}%, ECE "
              f"{ece(confidence, correct):.3f}, AUROC {auroc(confidence, correct):.3f}, Brier "
              f"{brier(confidence, correct):.3f}")  # fmt: skip
    catts, majority = ("catts-paper", 8), ("majority", 8)
    if catts in by_method and majority in by_method:
        a = [float(by_method[catts][i]["correct"]) for i in ids]
        b = [float(by_method[majority][i]["correct"]) for i in ids]
        diff, low, high = paired_bootstrap_ci(a, b, n_boot=5000)
        print(f"catts-paper@8 - majority@8: {100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]")
    greedy = [line for line in lines if line["method"] == "greedy"]
    if greedy:
        origins = Counter(line.get("stated_from") or "none" for line in greedy)
        correct = [float(line["correct"]) for line in greedy]
        expected = [float(line["confidence"]) for line in greedy]
        accuracy = 100 * sum(correct) / len(correct)
        print(f"greedy ({len(greedy)} items): statements {dict(origins)}; accuracy {accuracy:.1f}%")
        print(f"  expected value: ECE {ece(expected, correct):.3f}, AUROC {auroc(expected, correct):.3f}")
        written = [(float(line["stated_written"]), float(line["correct"])) for line in greedy
                   if line.get("stated_written") is not None and math.isfinite(line["stated_written"])]  # fmt: skip
        if written:
            values, right = [w for w, _ in written], [c for _, c in written]
            same = [float(line["confidence"]) for line in greedy
                    if line.get("stated_written") is not None and math.isfinite(line["stated_written"])]  # fmt: skip
            print(f"  written digit ({len(written)} items): ECE {ece(values, right):.3f}, AUROC "
                  f"{auroc(values, right):.3f}; expected value on the same items: ECE {ece(same, right):.3f}, "
                  f"AUROC {auroc(same, right):.3f}")  # fmt: skip
    for key in sorted({(line["method"], line["n"]) for line in lines if "statements" in line}):
        rows = [line for line in lines if (line["method"], line["n"]) == key]
        counts: Counter[str] = Counter()
        for line in rows:
            counts.update(line["statements"])
        unweighted = sum(any("undefined (NaN)" in f for f in line.get("fallbacks", [])) for line in rows)
        sources = Counter(line.get("confidence_source") for line in rows)
        print(f"{key[0]}@{key[1]} ({len(rows)} items): sample statements {dict(counts)}; sources {dict(sources)}; "
              f"items with an unweighted sample: {unweighted}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
