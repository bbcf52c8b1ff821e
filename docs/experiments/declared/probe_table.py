"""The probe's drops (clean -> level 1, own answer) of several `catts probe` runs as one Markdown table: NMLP and the
declared confidence in force, absolute and relative to clean (the unit in which they compare).

usage: uv run --no-sync python docs/experiments/declared/probe_table.py runs/declared/probe-base runs/declared/probe-d1
(Cross-run accuracy and greedy calibration: docs/experiments/compare_runs.py; CA-TTS against majority within a run:
the run's report.md.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folders: list[str]) -> None:
    print("| run | kind | accuracy drop | NMLP drop | NMLP / clean | declared (source) drop | declared / clean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for folder in folders:
        summary = json.loads((Path(folder) / "probe.json").read_text())
        source = summary.get("confidence_source", "?")
        for kind, d in summary["drop"].items():
            nmlp = f"{d['nmlp']:+.3f} | {100 * d['nmlp_relative']:+.1f}%"
            declared = f"{d['declared']:+.3f} ({source}) | {100 * d['declared_relative']:+.1f}%"
            print(f"| {Path(folder).name} | {kind} | {100 * d['accuracy']:+.1f} | {nmlp} | {declared} |")


if __name__ == "__main__":
    main(sys.argv[1:])
