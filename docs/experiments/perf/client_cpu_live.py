"""Client CPU during real graph runs against the bundled servers (process time against wall time), and a profile of
the second pass by internal time.

    python docs/experiments/perf/client_cpu_live.py
"""

import asyncio
import cProfile
import pstats
import time

import httpx

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.endpoints import model_endpoints
from catts_graph.cli.options import Servers
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.vllm_client import VLLMClient


async def main(n_items):
    items = load_benchmark("shapes", limit=n_items).items
    config = CATTSConfig.model_validate({"sampling": {"n": 16, "max_tokens": 128}})
    with model_endpoints(Servers(), want_expert=True, timeout=600) as ep:
        async with httpx.AsyncClient(timeout=600) as http:
            model = VLLMClient(ep.base_url, ep.model, http_client=http)
            expert = VLLMClient(ep.expert.base_url, ep.expert.name, http_client=http)
            graph = create_catts_graph(model, expert=expert, config=config)
            for item in items:
                await graph.ainvoke(item.graph_input())
            for rep in range(2):
                prof = cProfile.Profile()
                t, c = time.perf_counter(), time.process_time()
                if rep:
                    prof.enable()
                for item in items:
                    await graph.ainvoke(item.graph_input())
                if rep:
                    prof.disable()
                print(
                    f"rep {rep}: wall {time.perf_counter() - t:.2f}s client cpu {time.process_time() - c:.2f}s",
                    flush=True,
                )
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)


asyncio.run(main(16))
