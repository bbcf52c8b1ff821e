"""Lab: how a `catts eval` run of a stating model read its statements.

    python docs/experiments/declared/statement_table.py runs/declared/eval-d4

Greedy: where each statement came from (written, elicited, none), and the declared confidence's ECE and AUROC read
as its expected value (the line's `confidence`) and as the written digit (`stated_written`, the items that wrote
one). Graph lines: the samples' statements by origin, and the items where some sample still had no weight.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.metrics import auroc, ece


def main(run: str) -> None:
    lines = [json.loads(line) for line in (Path(run) / "results.jsonl").read_text().splitlines() if line.strip()]
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
