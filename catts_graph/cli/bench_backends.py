"""`catts bench`'s backends beyond the real servers: `--record FILE` puts a recording proxy in front of them, and
`--backend replay --recording FILE` answers from that recording (`catts_graph.serving.replay`). A recording carries the
bench settings it was made with, and the served model names, so the replay sends exactly the recorded requests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from catts_graph.cli.endpoints import Endpoints
from catts_graph.evaluation.bench import BenchSettings
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.replay import RecordingError, read_meta
from catts_graph.serving.replay_process import LoopbackBackend, recording
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import InvalidInputError

SETTINGS = ("items", "n", "early_stop_n", "concurrency", "max_tokens", "stop_rule")


def bench_settings(values: Mapping[str, Any]) -> BenchSettings:
    """The `BenchSettings` of the options (or of a recording's header): items, n, early_stop_n, concurrency,
    max_tokens and stop_rule."""
    missing = [name for name in SETTINGS if name not in values]
    if missing:
        raise InvalidInputError(f"the recording's settings lack {', '.join(missing)}; record it again")
    config = CATTSConfig.model_validate(
        {"sampling": {"n": values["n"], "max_tokens": values["max_tokens"]}, "routing": {"stop": values["stop_rule"]}}
    )
    levels = tuple(int(level) for level in values["concurrency"])
    return BenchSettings(int(values["items"]), int(values["n"]), int(values["early_stop_n"]), levels, config)


def recording_meta(path: Path) -> dict[str, Any]:
    """`read_meta`, its `RecordingError` raised as the `InvalidInputError` the CLI reports in one line."""
    try:
        return read_meta(path)
    except RecordingError as e:
        raise InvalidInputError(f"--recording {e}") from None


def settings_meta(settings: BenchSettings) -> dict[str, Any]:
    """The inverse of `bench_settings`, for a recording's header."""
    return {
        "items": settings.items,
        "n": settings.n,
        "early_stop_n": settings.early_stop_n,
        "concurrency": list(settings.concurrency),
        "max_tokens": settings.config.sampling.max_tokens,
        "stop_rule": settings.config.routing.stop.model_dump(),
    }


@contextlib.contextmanager
def recorded(endpoints: Endpoints, out: Path, settings: BenchSettings) -> Iterator[Endpoints]:
    """`endpoints` reached through a recording proxy writing `out` (complete once the block ends)."""
    expert = endpoints.expert if isinstance(endpoints.expert, VLLMClient) else None
    upstreams = {"base": endpoints.base_url} | ({} if expert is None else {"expert": expert.base_url})
    meta = {
        "settings": settings_meta(settings),
        "model": endpoints.model,
        "expert": None if expert is None else expert.name,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with recording(upstreams, out, meta) as proxy:
        yield _through(proxy, meta, endpoints.api_key)


def replay_endpoints(backend: LoopbackBackend, meta: Mapping[str, Any]) -> Endpoints:
    """The endpoints of a replay server, named as in the recording."""
    return _through(backend, meta, None)


def _through(backend: LoopbackBackend, meta: Mapping[str, Any], api_key: str | None) -> Endpoints:
    expert_name = meta.get("expert")
    expert = None if expert_name is None else VLLMClient(backend.url("expert"), expert_name, timeout_s=600)
    return Endpoints(backend.url("base"), meta.get("model"), expert, expert_name or "base model", api_key=api_key)
