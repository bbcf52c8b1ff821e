"""Lab: can anything the base model's samples say lift CA-TTS above its expert? (docs/experiments/self-expert.md)

    python docs/experiments/self-expert/beyond_expert.py runs/h46/bundled500 [N]

On a `catts eval` run with `expert` and `majority` lines: how often the expert's greedy answer and the base's
majority vote at N are right together, apart, or both wrong, and the best rule of the form "follow the majority
instead of the expert when its vote share is at least t" (the most any single threshold on the base's agreement can
gain, chosen on the same items, so an upper bound).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def main(run: str, n: int = 16) -> None:
    lines = [json.loads(t) for t in (Path(run) / "results.jsonl").read_text().splitlines() if t.strip()]
    expert = {line["id"]: line for line in lines if line["method"] == "expert"}
    majority = {line["id"]: line for line in lines if line["method"] == "majority" and line["n"] == n}
    ids = sorted(set(expert) & set(majority))
    cells = Counter((bool(expert[i]["correct"]), bool(majority[i]["correct"])) for i in ids)
    print(f"{len(ids)} items; expert right {sum(expert[i]['correct'] for i in ids)}, majority@{n} right "
          f"{sum(majority[i]['correct'] for i in ids)}")  # fmt: skip
    for (e, m), count in sorted(cells.items(), reverse=True):
        print(f"  expert {'right' if e else 'wrong'}, majority {'right' if m else 'wrong'}: {count}")
    print(f"  either right (oracle of the two): {len(ids) - cells[(False, False)]}")
    gains = {i: int(majority[i]["correct"]) - int(expert[i]["correct"]) for i in ids}
    shares = sorted({majority[i]["confidence"] for i in ids})
    best = max(shares, key=lambda t: sum(g for i, g in gains.items() if majority[i]["confidence"] >= t))
    net = sum(g for i, g in gains.items() if majority[i]["confidence"] >= best)
    print(f"best switch rule: follow the majority where its share >= {best:.2f}: {net:+d} items (in-sample bound)")
    for label, sign in (("majority right, expert wrong", 1), ("expert right, majority wrong", -1)):
        values = [majority[i]["confidence"] for i, g in gains.items() if g == sign]
        print(f"  {label}: mean majority share {sum(values) / len(values):.2f} over {len(values)} items")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
