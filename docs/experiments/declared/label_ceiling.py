"""Lab: how well a label of run 6's form (the greedy answer's probability and the samples' agreement) could rank
the test items themselves (docs/experiments/declared-confidence.md, run 6).

    python docs/experiments/declared/label_ceiling.py runs/declared/eval6-base

On a base model's `catts eval` run with greedy and majority lines: the AUROC of the greedy answer's exp(mean
log-prob), of an agreement proxy (the majority's vote share where the majority answer is the greedy answer, else 0;
the run keeps no per-sample answers), and of a logistic fit on both, held out over 5 folds of the items.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.evaluation.metrics import auroc, ece
from trainers.declared.warmup import fit_answer_score


def main(run: Path) -> None:
    lines = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    by_item: dict[str, dict[str, dict]] = {}  # type: ignore[type-arg]
    for line in lines:
        by_item.setdefault(line["id"], {})[line["method"]] = line
    items = [v for v in by_item.values() if "greedy" in v and "majority" in v]
    right = [float(v["greedy"]["correct"]) for v in items]
    probability = [v["greedy"]["probability"] for v in items]
    agree = [
        v["majority"]["confidence"] if v["majority"]["prediction"] == v["greedy"]["prediction"] else 0.0 for v in items
    ]
    print(f"{len(items)} items, greedy accuracy {sum(right) / len(right):.3f}")
    print(f"exp(mean log-prob) AUROC {auroc(probability, right):.3f}; agreement proxy AUROC {auroc(agree, right):.3f}")
    rows = [[p, a] for p, a in zip(probability, agree, strict=True)]
    held = [0.0] * len(rows)
    for fold in range(5):
        train = [i for i in range(len(rows)) if i % 5 != fold]
        fit = fit_answer_score([rows[i] for i in train], [bool(right[i]) for i in train])
        for i in range(fold, len(rows), 5):
            held[i] = fit.score(rows[i])
    print(f"logistic on both, held out: AUROC {auroc(held, right):.3f}, ECE {ece(held, right):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
