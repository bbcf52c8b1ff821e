"""Security: API keys never reach logs, traces or results; servers bind loopback; model and dataset text is data,
never code (no eval/exec/shell); expert output is parsed with size limits (test_fuzz.py, test_faults.py)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from catts_graph.benchmarks.public import mmmu
from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess, build_command
from catts_graph.serving.vllm_client import VLLMClient

ROOT = Path(__file__).resolve().parents[2]
SECRET_BASE, SECRET_EXPERT = "sk-base-7f3a9c1e-do-not-leak", "sk-expert-2b8d4e6f-do-not-leak"
FAST = {"sampling": {"n": 2, "max_tokens": 32}, "critic": {"critique_max_tokens": 16, "reanswer_max_tokens": 32}}


# -- model and dataset text is data, never code -----------------------------------------------------------------------
def _dangerous_calls(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if name in ("eval", "exec", "compile", "__import__", "os.system", "os.popen", "pickle.loads", "pickle.load"):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}(...)")
        if any(
            k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in node.keywords
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}(..., shell=...)")
        if name == "torch.load" and not any(
            k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}: torch.load without weights_only=True")
    return found


def test_no_eval_exec_shell_or_unsafe_unpickling_anywhere_in_the_shipped_code() -> None:
    files = [p for package in ("catts_graph", "nodes", "trainers", "examples") for p in (ROOT / package).rglob("*.py")]
    assert len(files) > 50
    assert [hit for path in files for hit in _dangerous_calls(path)] == []


def test_the_scanner_catches_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os, subprocess, torch\neval(x)\nsubprocess.run(c, shell=True)\ntorch.load(f)\n")
    assert len(_dangerous_calls(bad, tmp_path)) == 3


def test_dataset_literals_are_parsed_as_literals_only() -> None:
    record = {"id": "1", "question": "Q", "answer": "A", "image_1": None, "question_type": "multiple-choice"}
    for options in ["__import__('os').system('echo pwned')", "[" * 100_000, "x" * 50_000, "42"]:
        assert mmmu({**record, "options": options}) is None


# -- servers bind loopback --------------------------------------------------------------------------------------------
def _listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port_hex = local.rsplit(":", 1)
                if state == "0A" and int(port_hex, 16) == port:
                    found.add(address)
    return found


@pytest.mark.vllm
def test_servers_bind_loopback_by_default(vllm_process: VLLMServerProcess) -> None:
    assert ServerOptions().host == "127.0.0.1"
    command = build_command("m", ServerOptions(), 8000, "cpu")
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert _listening_addresses(vllm_process.port) == {"0100007F"}  # 127.0.0.1, and nothing else
    assert "--host 127.0.0.1" in (ROOT / "Makefile").read_text()  # `make langgraph-dev`


# -- secrets never reach logs, traces or results ----------------------------------------------------------------------
class EverythingRecorder(AsyncCallbackHandler):
    """Keeps every callback's arguments (what a tracer would send), serialised to text."""

    def __init__(self) -> None:
        self.text: list[str] = []

    def _keep(self, *args: Any, **kwargs: Any) -> None:
        self.text.append(json.dumps([args, kwargs], default=repr))

    async def on_chain_start(self, *a: Any, **k: Any) -> None:
        self._keep(*a, **k)

    async def on_chain_end(self, *a: Any, **k: Any) -> None:
        self._keep(*a, **k)

    async def on_chat_model_start(self, *a: Any, **k: Any) -> None:
        self._keep(*a, **k)

    async def on_llm_end(self, *a: Any, **k: Any) -> None:
        self._keep(*a, **k)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **k: Any) -> None:
        self._keep(repr(error), **k)


@pytest.mark.vllm
async def test_api_keys_never_reach_traces_or_outputs(vllm_server: RunningServer, shapes_image: Path) -> None:
    expert = ChatOpenAI(
        model=vllm_server.model, base_url=vllm_server.base_url + "/v1", api_key=SecretStr(SECRET_EXPERT), temperature=0
    )
    recorder = EverythingRecorder()
    async with VLLMClient(vllm_server.base_url, vllm_server.model, api_key=SECRET_BASE) as model:
        assert SECRET_BASE not in repr(model)
        graph = create_catts_graph(model, expert=expert, config=CATTSConfig.model_validate(FAST))
        out = await graph.ainvoke(
            {"question": "How many shapes are there?", "images": [str(shapes_image)]}, {"callbacks": [recorder]}
        )
    traced = "\n".join(recorder.text) + json.dumps(out, default=repr)
    assert len(recorder.text) > 10 and "ChatOpenAI" in traced  # the expert's calls were traced
    assert SECRET_BASE not in traced and SECRET_EXPERT not in traced


@pytest.mark.vllm
def test_cli_keys_never_reach_output_files_or_logs(vllm_server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "CATTS_API_KEY": SECRET_BASE, "CATTS_EXPERT_API_KEY": SECRET_EXPERT}
    command = [
        sys.executable, "-m", "catts_graph", "--debug", "eval", "--benchmark", "shapes", "--limit", "2",
        "--methods", "greedy,catts-paper", "--n", "2", "--max-tokens", "32", "--base-url", vllm_server.base_url,
        "--model", vllm_server.model, "--expert-base-url", vllm_server.base_url,
        "--expert-model", vllm_server.model, "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"results.jsonl", "metrics.json", "run.json", "report.md"}
    for text in [result.stdout, result.stderr, *(p.read_bytes().decode("latin-1") for p in written)]:
        assert SECRET_BASE not in text and SECRET_EXPERT not in text
