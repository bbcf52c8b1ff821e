"""`catts serve` end to end: prints the URL, serves, and on SIGTERM stops its whole process tree."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catts_graph.serving.errors import RetriesExhaustedError
from catts_graph.serving.vllm_client import VLLMClient
from nodes.protocol import Message, SamplingParams

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_serve_prints_url_and_sigterm_stops_everything(tiny_model_dir: Path, shapes_image: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "catts_graph", "serve", str(tiny_model_dir), "--max-model-len", "512"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()  # blocks until healthy (or the command fails)
        assert base_url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""

        async def ask() -> int:
            async with VLLMClient(base_url) as client:
                return len(
                    await client.sample([Message.user("How many?", [shapes_image])], SamplingParams(n=2, max_tokens=4))
                )

        assert asyncio.run(ask()) == 2
        server_pgid = _server_pid(proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    with pytest.raises(ProcessLookupError):  # the vLLM process group is gone
        os.killpg(server_pgid, 0)

    async def ask_stopped() -> None:
        async with VLLMClient(base_url, "tiny", timeout_s=10) as client:
            await client.sample([Message.user("How many?")], SamplingParams())

    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError, match="cannot reach the model server.*catts serve"):
        asyncio.run(ask_stopped())
    assert time.monotonic() - started < 5  # a typed error at once, not a hang


def _server_pid(proc: subprocess.Popen[str]) -> int:
    """The vLLM leader's pid, from the "(pid N)" the CLI prints on stderr."""
    assert proc.stderr is not None
    for _ in range(20):
        line = proc.stderr.readline()
        if "(pid " in line:
            return int(line.rsplit("(pid ", 1)[1].split(")")[0])
    raise AssertionError("catts serve did not report the server pid")
