"""`catts eval --shard I/K` and `catts eval merge`: shards partition the items, and the merged run's metrics are a
single run's on the same lines. (Against the real server: tests/integration/test_eval_probe_vllm.py.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from in_process import catts

from catts_graph.cli.evaluate import shard_from
from catts_graph.evaluation.harness import EvalSettings
from catts_graph.evaluation.job import EvalJob, EvalModels, open_run
from catts_graph.evaluation.merge import merge_runs
from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidInputError
from nodes.testing import ScriptedExpert, ScriptedModel

SETTINGS = EvalSettings(("greedy", "majority", "catts-paper"), (2, 4), CATTSConfig())


def evaluate(out: Path, shard: tuple[int, int] | None, *, limit: int = 7, temperature: float = 1.0) -> Path:
    settings = SETTINGS
    if temperature != 1.0:
        config = CATTSConfig.model_validate({"sampling": {"temperature": temperature}})
        settings = EvalSettings(SETTINGS.methods, SETTINGS.ns, config)
    job = EvalJob(benchmark="shapes", out=out, settings=settings, limit=limit, shard=shard)
    run = open_run(job)
    model = ScriptedModel([("\\boxed{2}", 6.0), ("\\boxed{3}", 2.0), ("\\boxed{2}", 3.0)], greedy="\\boxed{3}")
    asyncio.run(run.evaluate(EvalModels(model, "scripted", ScriptedExpert(), "scripted expert")))
    run.write_outputs()
    return out


def timeless(run: Path) -> dict[str, Any]:
    """A run's metrics without wall times (the one thing two runs of the same lines may not share)."""
    metrics = json.loads((run / "metrics.json").read_text())
    for row in metrics["methods"].values():
        del row["wall_s"]
    return metrics


def test_shards_partition_the_items_and_merge_into_the_single_run(tmp_path: Path) -> None:
    single = evaluate(tmp_path / "single", None)
    shards = [evaluate(tmp_path / f"s{i}", (i, 3)) for i in range(3)]
    ids = [{json.loads(line)["id"] for line in (s / "results.jsonl").read_text().splitlines()} for s in shards]
    assert [len(i) for i in ids] == [3, 2, 2] and set().union(*ids) == {
        json.loads(line)["id"] for line in (single / "results.jsonl").read_text().splitlines()
    }
    merged = merge_runs(list(reversed(shards)), tmp_path / "merged")
    assert merged.info["n_items"] == 7 and [m["shard"] for m in merged.info["merged"]] == ["0/3", "1/3", "2/3"]
    assert timeless(tmp_path / "merged") == timeless(single)
    single_info = json.loads((single / "run.json").read_text())
    assert {k: v for k, v in merged.info.items() if k != "merged"} == single_info


def test_merge_refuses_what_is_not_one_complete_run(tmp_path: Path) -> None:
    s0, s1 = evaluate(tmp_path / "s0", (0, 2)), evaluate(tmp_path / "s1", (1, 2))
    with pytest.raises(InvalidInputError, match="need shards 0/2 to 1/2"):
        merge_runs([s0], tmp_path / "m1")
    with pytest.raises(InvalidInputError, match="not a shard"):
        merge_runs([evaluate(tmp_path / "whole", None), s1], tmp_path / "m2")
    other = evaluate(tmp_path / "other", (1, 2), temperature=0.7)
    with pytest.raises(InvalidInputError, match="other settings .*settings"):
        merge_runs([s0, other], tmp_path / "m3")
    lines = (s1 / "results.jsonl").read_text().splitlines(keepends=True)
    (s1 / "results.jsonl").write_text(
        "".join(line for line in lines if json.loads(line)["id"] != json.loads(lines[0])["id"])
    )
    with pytest.raises(InvalidInputError, match="holds 2 of its 3 items; finish it first"):
        merge_runs([s0, s1], tmp_path / "m4")


@pytest.mark.parametrize("text", ["2/2", "a/b", "1", "-1/2", "0/0"])
def test_bad_shards_say_what_to_give(text: str) -> None:
    with pytest.raises(InvalidInputError, match="give I/K with 0 <= I < K"):
        shard_from(text)


def test_cli_merge_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    result = catts("eval", "merge", str(tmp_path), "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "catts eval merge: error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_shards_that_read_their_models_in_other_folders_merge_but_other_counts_do_not(tmp_path: Path) -> None:
    shards = [evaluate(tmp_path / f"s{i}", (i, 2)) for i in range(2)]
    info_path = shards[1] / "run.json"
    info = json.loads(info_path.read_text())
    moved = {"base": {"count": 1_000, "source": "/machine-b/shapes-base"}, "expert": None}
    info_path.write_text(json.dumps({**info, "parameters": moved}))
    first = json.loads((shards[0] / "run.json").read_text())
    (shards[0] / "run.json").write_text(json.dumps({**first, "parameters": {**moved, "base": {
        "count": 1_000, "source": "/machine-a/shapes-base"}}}))  # fmt: skip
    merged = merge_runs(shards, tmp_path / "merged")  # the same model, served from another folder
    assert merged.info["parameters"]["base"]["count"] == 1_000
    info_path.write_text(json.dumps({**info, "parameters": {**moved, "base": {"count": 2_000, "source": "x"}}}))
    with pytest.raises(InvalidInputError, match="other settings .*parameters"):
        merge_runs(shards, tmp_path / "merged-again")
