"""Lab: where a CA-TTS line of `catts eval` gains or loses, stage by stage.

    python docs/experiments/declared/stage_table.py runs/declared/eval5-base runs/declared/eval5-d4

For each run's ``catts-paper`` line: the accuracy of the vote table's leader after each stage's contribution is
added (the confidence-weighted self-consistency vote, the Voter, the Critic, the self-check; a stage that did not
contribute leaves the leader as it was), how many items each stage contributed on, and how often it changed the
leader. Ties go to the alphabetically first answer, as `sorted` orders them.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import load_benchmark, matches

STAGES = ("self_consistency", "voter", "critic", "self_check")


def main(runs: list[str]) -> None:
    for run in runs:
        lines = [json.loads(t) for t in (Path(run) / "results.jsonl").read_text().splitlines() if t.strip()]
        catts = [line for line in lines if line["method"] == "catts-paper"]
        items = {item.id: item for item in load_benchmark("shapes", limit=len(catts)).items}
        right, ran, changed = Counter[str](), Counter[str](), Counter[str]()
        for line in catts:
            votes = {c["module"]: c["votes"] for c in line["contributions"]}
            table: Counter[str] = Counter()
            before = None
            for stage in STAGES:
                if stage in votes:
                    ran[stage] += 1
                    table.update(votes[stage])
                leader = max(sorted(table), key=lambda a: table[a]) if table else None
                right[stage] += matches(leader, items[line["id"]])
                changed[stage] += stage != STAGES[0] and leader != before
                before = leader
        share = {s: 100 * right[s] / len(catts) for s in STAGES}
        cells = ", ".join(f"{s} {share[s]:.1f}% (on {ran[s]}, changed {changed[s]})" for s in STAGES)
        print(f"{run} ({len(catts)} items): {cells}")


if __name__ == "__main__":
    main(sys.argv[1:])
