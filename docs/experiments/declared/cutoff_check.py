"""Lab: the self-check's plausibility cut-off under the declared confidence, re-decided on a recorded run
(docs/experiments/declared-confidence.md, "The self-check's cut-off").

    python docs/experiments/declared/cutoff_check.py runs/declared/eval-d6 [runs/declared/eval-base]

On each ``catts-paper`` line the self-check's record keeps every candidate's clean and noised log-probs and the
value the cut-off read. Each rule below picks again among the recorded candidates (no new calls) and the line's
answer is the leader of the vote table with the self-check's vote moved to the new pick (the recorded weights, the
graph's tie-break). Rules: the recorded pick; the cut-off on the candidate's scored probability under the clean
image (what the NMLP path reads); on the declared confidence with other `beta`; both cut-offs at once; no
self-check vote. With a second run (paired by item), each rule's paired bootstrap CI against its CA-TTS line.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.benchmarks import load_benchmark, matches
from catts_graph.evaluation.metrics import paired_bootstrap_ci
from nodes.config import SelfCheckConfig
from nodes.self_check import contrastive_pick
from nodes.voting import add_tables, leader

DEFAULTS = SelfCheckConfig()  # the graph's alpha, beta and tau3
ALPHA, BETA = DEFAULTS.alpha, DEFAULTS.beta
Rule = Callable[[list[dict[str, Any]]], "str | None"]


def pick_with(cut: str, beta: float = BETA) -> Rule:
    """A rule: the contrastive pick with the cut-off reading `cut` (clean, sequence: the declared one, or both)."""

    def rule(candidates: list[dict[str, Any]]) -> str | None:
        clean = {c["answer"]: c["logp_clean"] for c in candidates}
        noised = {c["answer"]: c["logp_noised"] for c in candidates}
        declared = {c["answer"]: c["logp_sequence"] for c in candidates}
        if cut == "both":  # plausible under both: the declared cut-off among the clean cut-off's survivors
            _, _, kept = contrastive_pick(clean, noised, alpha=ALPHA, beta=beta)
            declared = {a: (v if a in kept else -math.inf) for a, v in declared.items()}
            return contrastive_pick(clean, noised, alpha=ALPHA, beta=beta, sequence=declared)[0]
        sequence = declared if cut == "sequence" else clean
        return contrastive_pick(clean, noised, alpha=ALPHA, beta=beta, sequence=sequence)[0]

    return rule


RULES: dict[str, Rule | None] = {
    "recorded": None,
    "cut-off on the clean answer probability": pick_with("clean"),
    "cut-off on the declared, beta 0.5": pick_with("sequence", 0.5),
    "cut-off on the declared, beta 0.8": pick_with("sequence", 0.8),
    "both cut-offs": pick_with("both"),
    "no self-check vote": lambda candidates: None,
}


def answer(line: dict[str, Any], rule: Rule | None) -> str | None:
    """The line's answer with the self-check's vote re-decided by `rule` (None: as recorded)."""
    record = line.get("self_check")
    tables = []
    for c in line["contributions"]:
        votes = c["votes"]
        if c["module"] == "self_check" and rule is not None and record:
            pick = rule(record["candidates"])
            votes = {pick: next(iter(votes.values()))} if pick else {}
        tables.append(votes)
    if rule is not None and record and not any(c["module"] == "self_check" for c in line["contributions"]):
        pick = rule(record["candidates"])  # the recorded self-check picked nothing; the rule may
        tables.append({pick: DEFAULTS.tau3} if pick else {})
    return leader(add_tables(*tables))[0]


def correctness(run: str) -> dict[str, dict[str, float]]:
    """Per rule, per item id: 1.0 where the re-decided answer is right."""
    lines = [json.loads(t) for t in (Path(run) / "results.jsonl").read_text().splitlines() if t.strip()]
    catts = [line for line in lines if line["method"] == "catts-paper"]
    items = {item.id: item for item in load_benchmark("shapes", limit=500).items}
    return {
        name: {line["id"]: float(matches(answer(line, rule), items[line["id"]])) for line in catts}
        for name, rule in RULES.items()
    }


def main(run: str, paired: str | None = None) -> None:
    scores = correctness(run)
    other = correctness(paired)["recorded"] if paired else None
    for name, right in scores.items():
        ids = sorted(right if other is None else set(right) & set(other))
        cell = f"{name:42s} {100 * sum(right[i] for i in ids) / len(ids):5.1f}%"
        changed = sum(right[i] != scores["recorded"][i] for i in ids)
        if other is not None:
            delta, low, high = paired_bootstrap_ci([right[i] for i in ids], [other[i] for i in ids])
            cell += f"   vs {Path(str(paired)).name}: {100 * delta:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
        print(f"{cell}   ({changed} items differ from the recorded answer; {len(ids)} items)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
