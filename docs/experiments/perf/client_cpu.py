"""Client-side CPU per graph run: record one pass of real HTTP traffic, then rerun the graph against the recorded
responses (httpx.MockTransport), so only the client's own work is timed and profiled.

    python docs/experiments/perf/client_cpu.py BASE_URL EXPERT_URL [ITEMS]
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import time

import httpx

from catts_graph.benchmarks import load_benchmark
from catts_graph.evaluation.bench import RecordingTransport
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.vllm_client import VLLMClient


async def main(base: str, expert_url: str, n_items: int) -> None:
    items = load_benchmark("shapes", limit=n_items).items
    config = CATTSConfig.model_validate({"sampling": {"n": 16, "max_tokens": 128}})
    transport = RecordingTransport()
    async with httpx.AsyncClient(transport=transport, timeout=600) as http:
        model, expert = VLLMClient(base, None, http_client=http), VLLMClient(expert_url, None, http_client=http)
        graph = create_catts_graph(model, expert=expert, config=config)
        for item in items:
            await graph.ainvoke(item.graph_input())
    by_body = {(r.url, r.body): r.response for r in transport.records}
    by_url: dict[str, bytes] = {}
    for r in transport.records:
        by_url.setdefault(r.url, r.response)

    def reply(request: httpx.Request) -> httpx.Response:
        content = by_body.get((str(request.url), request.content)) or by_url[str(request.url)]
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(reply), timeout=600) as http:
        model, expert = VLLMClient(base, None, http_client=http), VLLMClient(expert_url, None, http_client=http)
        graph = create_catts_graph(model, expert=expert, config=config)
        for item in items:  # warm
            await graph.ainvoke(item.graph_input())
        profile = cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        profile.enable()
        for item in items:
            await graph.ainvoke(item.graph_input())
        profile.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{len(items)} graph runs, {len(transport.records)} requests: client-only {1000 * wall / len(items):.1f} ms "
        f"wall, {1000 * cpu / len(items):.1f} ms CPU per run"
    )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 8))
