"""`catts eval`'s expert-alone baselines and compute against the real served bundled expert.

One server: the bundled expert serves as the base model and as the expert, so ``expert`` sends exactly greedy's
request to the same model and must give greedy's answers and tokens, and the parameter count read from the server's
folder must be the bundled expert's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from catts_graph.serving.parameters import count_parameters
from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess
from catts_graph.shapes.bundled import EXPERT_MODEL, bundled_model

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def bundled_expert() -> Iterator[RunningServer]:
    process = VLLMServerProcess(bundled_model(EXPERT_MODEL), ServerOptions(max_model_len=1024))
    try:
        process.start()
        process.wait_healthy()
        yield process.running_server()
    finally:
        process.stop()


def test_expert_rows_and_compute_columns_against_the_served_bundled_expert(
    bundled_expert: RunningServer, tmp_path: Path
) -> None:
    url, name = bundled_expert.base_url, bundled_expert.model
    out = tmp_path / "run"
    methods = "greedy,majority,expert,expert-majority,catts-paper"
    command = [sys.executable, "-m", "catts_graph", "eval", "--benchmark", "shapes", "--limit", "3", "--n", "1,2",
               "--max-tokens", "64", "--concurrency", "1", "--methods", methods, "--base-url", url, "--model", name,
               "--expert-base-url", url, "--expert-model", name, "--out", str(out)]  # fmt: skip
    # One item at a time: greedy's request and the expert's identical one each run alone, so their batches match.
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    parameters = json.loads((out / "run.json").read_text())["parameters"]
    count = count_parameters(bundled_model(EXPERT_MODEL))
    assert parameters["base"]["count"] == parameters["expert"]["count"] == count  # read through /v1/models' root
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 3 * (1 + 1 + 2 + 2 + 2)  # greedy and expert once; majority, expert-majority, catts at 2 N
    by = {(line["id"], line["method"], line["n"]): line for line in lines}
    for item in {line["id"] for line in lines}:
        greedy, alone = by[(item, "greedy", 1)], by[(item, "expert", 1)]
        assert alone["prediction"] == greedy["prediction"] and alone["tokens"] == greedy["tokens"] > 0
        assert (alone["base_tokens"], alone["expert_tokens"]) == (0, alone["tokens"])
        assert (greedy["base_tokens"], greedy["expert_tokens"]) == (greedy["tokens"], 0)
        for n in (1, 2):
            sampled = by[(item, "expert-majority", n)]
            assert sampled["base_tokens"] == 0 and sampled["expert_tokens"] == sampled["tokens"] > 0
            catts = by[(item, "catts-paper", n)]  # the expert's replies, counted apart from the base model's calls
            assert catts["expert_tokens"] > 0 and catts["base_tokens"] + catts["expert_tokens"] == catts["tokens"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cost"]["field"] == "compute"
    for row in metrics["methods"].values():
        rows = [line for line in lines if line["method"] == row["method"] and line["n"] == row["n_samples"]]
        exact = sum(count * (r["base_tokens"] + r["expert_tokens"]) for r in rows) / len(rows)
        assert row["compute"] == pytest.approx(exact, rel=1e-9)
    report = (out / "report.md").read_text()
    assert "| expert | 1 |" in report and "| expert-majority | 2 |" in report and "compute/item" in report
    assert "- catts-paper@2 vs expert:" in report and "x its compute" in report
    assert "expert-majority" in result.stdout and "compute" in result.stdout.splitlines()[0]
