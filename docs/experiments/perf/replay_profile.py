"""A CPU profile of `catts bench`'s overhead part (warm-up and measured graph runs, then the direct sends) against
the replay server, replies without delay (the CPU path is the same); the bench's first part, so the replay follows
the recording exactly.

    python docs/experiments/perf/replay_profile.py runs/bench.replay.gz
"""

import asyncio
import cProfile
import pstats
import sys
from pathlib import Path

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.bench_backends import bench_settings
from catts_graph.evaluation import bench
from catts_graph.serving.replay import read_meta
from catts_graph.serving.replay_process import replaying

recording = Path(sys.argv[1])
meta = read_meta(recording)
settings = bench_settings(meta["settings"])
items = load_benchmark("shapes", limit=settings.items).items
profile = cProfile.Profile()
with replaying(recording, latency_scale=0.0) as backend:
    expert_endpoint = None if meta["expert"] is None else (backend.url("expert"), meta["expert"])
    profile.enable()
    result = asyncio.run(bench.overhead(backend.url("base"), meta["model"], expert_endpoint, items, settings.config))
    profile.disable()
    print({k: round(v, 3) for k, v in result.items()}, backend.stats())
stats = pstats.Stats(profile)
stats.sort_stats("tottime").print_stats(30)
stats.sort_stats("cumtime").print_stats("catts_graph|nodes", 40)
