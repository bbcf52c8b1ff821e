"""Lab: a grounded greedy run's box IoU and accuracy by question type (docs/experiments/grounding.md).

    python docs/experiments/grounding/iou_by_type.py runs/grounded/greedy-NAME

Reads the run's greedy lines (`grounding.iou` per line) and the ShapesVQA items of world seed 2 they answered; counts
whose answer is 0 have no evidence (an empty box list scores 1), so they are reported apart.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.shapes.world import make_item


def main(run: str) -> None:
    lines = [json.loads(t) for t in (Path(run) / "results.jsonl").read_text().splitlines() if t.strip()]
    greedy = [line for line in lines if line["method"] == "greedy"]
    groups: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for line in greedy:
        seed, index = (int(part) for part in line["id"].split("-")[1:])
        item = make_item(seed, index)
        kind = "no evidence (answer 0)" if not item.evidence_boxes else item.question_type
        groups[kind].append(line)
        groups["all"].append(line)
        if item.evidence_boxes:
            groups["items with evidence"].append(line)
    print(f"{'group':28s} {'items':>5s} {'mean IoU':>9s} {'accuracy':>9s} {'names boxes':>12s}")
    for kind, rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        iou = sum(r["grounding"]["iou"] for r in rows) / len(rows)
        named = sum(r["grounding"]["boxes_named"] for r in rows) / len(rows)
        accuracy = sum(r["correct"] for r in rows) / len(rows)
        print(f"{kind:28s} {len(rows):5d} {iou:9.3f} {100 * accuracy:8.1f}% {100 * named:11.0f}%")


if __name__ == "__main__":
    main(sys.argv[1])
