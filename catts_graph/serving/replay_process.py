"""Start the recording proxy or the replay server (`catts_graph.serving.replay`) in its own process on loopback,
wait for it, and stop it by its own PID; its CPU time is known once it has stopped.

Example:
    >>> with replaying("runs/bench.replay.gz") as backend:  # doctest: +SKIP
    ...     backend.url("base")
    'http://127.0.0.1:41237/base'
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from catts_graph.serving import replay
from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.server import free_port


@dataclass
class LoopbackBackend:
    """A recording proxy or replay server: its root URL, its process, and once it has stopped the CPU seconds (user
    + system) it used."""

    root: str
    process: subprocess.Popen[bytes]
    cpu_s: float | None = None

    def url(self, upstream: str) -> str:
        """The base URL through which `upstream` (``base``, ``expert``) is reached."""
        return f"{self.root}/{upstream}"

    def stats(self) -> dict[str, Any]:
        """The replay server's request and miss counts."""
        with httpx.Client(timeout=10) as http:
            return dict(http.get(f"{self.root}/replay/stats").json())


@contextlib.contextmanager
def recording(upstreams: Mapping[str, str], out: Path, meta: Mapping[str, Any]) -> Iterator[LoopbackBackend]:
    """A recording proxy in front of `upstreams` (name -> base URL) writing `out` (complete once the block ends)."""
    specs = [arg for name, url in upstreams.items() for arg in ("--upstream", f"{name}={url}")]
    with _serve(["record", *specs, "--out", str(out), "--meta", json.dumps(dict(meta))]) as backend:
        yield backend


@contextlib.contextmanager
def replaying(path: Path, *, latency_scale: float = 1.0) -> Iterator[LoopbackBackend]:
    """The replay server answering from the recording at `path`."""
    with _serve(["replay", "--recording", str(path), "--latency-scale", repr(latency_scale)]) as backend:
        yield backend


@contextlib.contextmanager
def _serve(args: list[str], startup_s: float = 60.0) -> Iterator[LoopbackBackend]:
    port = free_port()
    command = [sys.executable, replay.__file__, *args, "--port", str(port)]  # a script: no package imports
    before = _children_cpu_s()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        backend = LoopbackBackend(f"http://127.0.0.1:{port}", process)
        try:
            _wait_healthy(backend, startup_s, log)
            yield backend
        finally:
            if process.poll() is None:
                process.terminate()  # uvicorn shuts down cleanly on SIGTERM: the recording is flushed and closed
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            backend.cpu_s = _children_cpu_s() - before  # this process starts no other child meanwhile


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_healthy(backend: LoopbackBackend, startup_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + startup_s
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if backend.process.poll() is not None:
                log.seek(0)
                raise ServerStartError(
                    f"the loopback replay server exited during start-up (code {backend.process.returncode})",
                    log.read().decode(errors="replace")[-2000:],
                )
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{backend.root}/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise ServerStartError(f"the loopback replay server was not healthy after {startup_s:g} s", "")
