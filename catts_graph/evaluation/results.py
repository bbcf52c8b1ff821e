"""A `catts eval` output folder: the append-only results file and the run record that guards resuming.

Every item's lines go to the results file in one write, synced to disk, so an interrupted run loses at most the items
in flight; a resumed run skips the items already there and drops a half-written last line. ``run.json`` records the
run's settings: a folder continues only with ``--resume`` and the same settings. `finite_json` makes a result
JSON-safe (JSON has no NaN).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

from nodes.errors import InvalidInputError


class ResultsFile:
    """Append-only `results.jsonl`: one write (and fsync) per item; resumable."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = asyncio.Lock()

    def completed_ids(self) -> set[str]:
        """Ids with lines on disk; a half-written last line (an interrupted write) is cut off first."""
        if not self.path.exists():
            return set()
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
            data = data[: data.rfind(b"\n") + 1]
        return {json.loads(line)["id"] for line in data.decode().splitlines() if line.strip()}

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    async def append(self, lines: list[dict[str, Any]]) -> None:
        payload = "".join(json.dumps(line) + "\n" for line in lines)
        async with self._lock:
            with self.path.open("a") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())


def refuse_unless_resuming(out_dir: Path, resume: bool) -> None:
    """An existing run in `out_dir` continues only with --resume (checked first, before any server starts)."""
    if (out_dir / "run.json").exists() and not resume:
        raise InvalidInputError(f"{out_dir} already holds a run; pass --resume to continue it, or pick a new --out.")


RECORDED_LATER = ("parameters",)
"""Keys ``run.json`` gained after runs were already recorded without them: a resumed run recorded before a key
existed is compared without it and records it from then on (its earlier lines lack what the key serves, and the
report says so: for ``parameters``, cost falls back to tokens)."""


def check_resume(out_dir: Path, run_info: dict[str, Any], resume: bool) -> None:
    """Refuse to mix runs: an existing folder must hold the same settings, and needs --resume to continue."""
    info = out_dir / "run.json"
    if info.exists():
        previous = json.loads(info.read_text())
        refuse_unless_resuming(out_dir, resume)
        absent = [k for k in RECORDED_LATER if k not in previous]
        if comparable(previous) != comparable({k: v for k, v in run_info.items() if k not in absent}):
            raise InvalidInputError(
                f"{out_dir} holds a run with other settings; use the same settings or a new --out."
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    info.write_text(json.dumps(run_info, indent=2) + "\n")


def comparable(run_info: dict[str, Any]) -> dict[str, Any]:
    """A run record as runs are compared (resuming, merging shards): the models' parameter counts, not the folders
    they were read from (a shard on another machine, or a moved folder, serves the same model from elsewhere)."""
    parameters = run_info.get("parameters")
    if not isinstance(parameters, dict):
        return run_info
    counts = {role: None if entry is None else entry.get("count") for role, entry in parameters.items()}
    return {**run_info, "parameters": counts}


def finite_json(value: Any) -> Any:
    """JSON has no NaN: undefined numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value
