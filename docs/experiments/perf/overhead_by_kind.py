"""Where the orchestration overhead sits: graph runs against the bundled servers with every request recorded, then
the same bodies sent directly (twice), with the graph's and the replay's time per request kind (server port, n > 1
sampling / prompt log-prob scoring / single completion, max_tokens).

    python docs/experiments/perf/overhead_by_kind.py [ITEMS]
"""

import asyncio
import collections
import json
import sys
import time

import httpx

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.endpoints import model_endpoints
from catts_graph.cli.options import Servers
from catts_graph.evaluation.bench import RecordingTransport, overlap_groups
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.vllm_client import VLLMClient


def kind(r):
    b = json.loads(r.body)
    port = r.url.split(":")[2].split("/")[0]
    tag = "n>1" if (b.get("n") or 1) > 1 else ("prompt_lp" if b.get("prompt_logprobs") is not None else "n1")
    return f"{port}:{tag}:max{b.get('max_tokens')}"


async def main(n_items):
    items = load_benchmark("shapes", limit=n_items).items
    config = CATTSConfig.model_validate({"sampling": {"n": 16, "max_tokens": 128}})
    with model_endpoints(Servers(), want_expert=True, timeout=600) as ep:
        for rep in range(2):
            transport = RecordingTransport()
            async with httpx.AsyncClient(transport=transport, timeout=600) as http:
                model = VLLMClient(ep.base_url, ep.model, http_client=http)
                expert = VLLMClient(ep.expert.base_url, ep.expert.name, http_client=http)
                graph = create_catts_graph(model, expert=expert, config=config)
                for item in items:
                    await graph.ainvoke(item.graph_input())
                transport.records.clear()
                graph_s = 0.0
                for item in items:
                    t = time.perf_counter()
                    await graph.ainvoke(item.graph_input())
                    graph_s += time.perf_counter() - t
            recs = list(transport.records)
            groups = overlap_groups(recs)
            times = {}
            async with httpx.AsyncClient(timeout=600) as direct:

                async def send(r, times=times):
                    t = time.perf_counter()
                    await direct.post(r.url, content=r.body, headers={"Content-Type": "application/json"})
                    times[id(r)] = time.perf_counter() - t

                for passno in range(2):
                    t0 = time.perf_counter()
                    for g in groups:
                        await asyncio.gather(*(send(r) for r in g))
                    d = time.perf_counter() - t0
                    print(f"rep {rep} replay {passno}: {d:.2f}s")
            in_call = sum(max(r.ended for r in g) - g[0].started for g in groups)
            print(f"rep {rep}: graph {graph_s:.2f}s in-call {in_call:.2f}s groups {len(groups)} requests {len(recs)}")
            agg = collections.defaultdict(lambda: [0, 0.0, 0.0])
            for r in recs:
                a = agg[kind(r)]
                a[0] += 1
                a[1] += r.ended - r.started
                a[2] += times[id(r)]
            for k, (c, g, d) in sorted(agg.items()):
                print(f"  {k:<28} {c:>4}  graph {g:7.2f}s  direct {d:7.2f}s  ratio {g / d:.3f}")
            multi = [g for g in groups if len(g) > 1]
            print(f"  overlapping groups: {len(multi)} sizes {collections.Counter(len(g) for g in groups)}")


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 16))
