"""Join the shards of one `catts eval` run (``--shard I/K`` on several machines) into one run folder.

Every shard folder must come from the same command but for ``--shard`` (its ``run.json`` says so), the shards must
be 0..K-1 each once, and each must be complete (an interrupted shard continues with ``--resume`` first). The merged
folder holds every result line, a ``run.json`` without the shard, and the metrics, report and plots a single run
writes, computed the same way from the same lines.

Example:
    >>> merged = merge_runs([Path("runs/s0"), Path("runs/s1")], Path("runs/all"))  # doctest: +SKIP
    >>> merged.info["n_items"]  # doctest: +SKIP
    300
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catts_graph.evaluation.job import EvalOutputs, write_outputs
from catts_graph.evaluation.results import ResultsFile, comparable, refuse_unless_resuming
from nodes.errors import InvalidInputError


@dataclass(frozen=True)
class Shard:
    folder: Path
    info: dict[str, Any]
    lines: list[dict[str, Any]]

    @property
    def index(self) -> int:
        return int(self.info["shard"]["index"])

    @property
    def count(self) -> int:
        return int(self.info["shard"]["count"])


@dataclass(frozen=True)
class MergedRun:
    info: dict[str, Any]
    lines: list[dict[str, Any]]
    outputs: EvalOutputs


def read_shard(folder: Path) -> Shard:
    """A shard folder's record and lines; refuses a folder that is not a complete shard, saying what to do."""
    info_path = folder / "run.json"
    if not info_path.is_file():
        raise InvalidInputError(f"{folder} is not a `catts eval` output folder (no run.json)")
    info = json.loads(info_path.read_text())
    if "shard" not in info:
        raise InvalidInputError(f"{folder} is not a shard (its run had no --shard I/K); merge only shard folders")
    results = ResultsFile(folder / "results.jsonl")
    done = len(results.completed_ids())
    if done != info["n_items"]:
        shard = f"{info['shard']['index']}/{info['shard']['count']}"
        raise InvalidInputError(
            f"{folder} (shard {shard}) holds {done} of its {info['n_items']} items; finish it first: rerun its "
            "command with --resume"
        )
    return Shard(folder, info, results.read())


def merge_runs(folders: Sequence[Path], out: Path) -> MergedRun:
    """Check that `folders` are the complete shards of one run and write the merged run to `out`."""
    refuse_unless_resuming(out, resume=False)
    shards = sorted((read_shard(folder) for folder in folders), key=lambda s: s.index)
    if not shards:
        raise InvalidInputError("give the shard folders to merge")
    count = shards[0].count
    indices = [s.index for s in shards]
    if any(s.count != count for s in shards) or indices != list(range(count)):
        found = ", ".join(f"{s.index}/{s.count} ({s.folder})" for s in shards)
        raise InvalidInputError(f"need shards 0/{count} to {count - 1}/{count}, each once; got {found}")
    common = [{k: v for k, v in s.info.items() if k not in ("shard", "n_items")} for s in shards]
    first = comparable(common[0])
    for shard, settings in zip(shards[1:], map(comparable, common[1:]), strict=True):
        if settings != first:
            differ = sorted(k for k in settings.keys() | first.keys() if settings.get(k) != first.get(k))
            raise InvalidInputError(
                f"{shard.folder} ran with other settings than {shards[0].folder} ({', '.join(differ)}); shards "
                "of one run differ only in --shard"
            )
    seen: dict[str, Path] = {}
    for shard in shards:
        for item_id in {line["id"] for line in shard.lines}:
            if item_id in seen:
                raise InvalidInputError(f"item {item_id} is in both {seen[item_id]} and {shard.folder}")
            seen[item_id] = shard.folder
    info = {**common[0], "n_items": sum(s.info["n_items"] for s in shards),
            "merged": [{"folder": str(s.folder), "shard": f"{s.index}/{count}"} for s in shards]}  # fmt: skip
    lines = [line for shard in shards for line in shard.lines]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return MergedRun(info, lines, write_outputs(out, lines, info))
