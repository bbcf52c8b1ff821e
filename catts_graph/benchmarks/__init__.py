"""Benchmarks: the item contract (items), the JSONL reader (jsonl), rule-based grading (grading), the ShapesVQA
loader (shapes_vqa), the public benchmark loaders (public) and `load_benchmark` by name (registry)."""

from catts_graph.benchmarks.grading import matches
from catts_graph.benchmarks.items import Benchmark, BenchmarkError, BenchmarkItem
from catts_graph.benchmarks.jsonl import read_jsonl
from catts_graph.benchmarks.registry import PUBLIC, load_benchmark

__all__ = [
    "PUBLIC",
    "Benchmark",
    "BenchmarkError",
    "BenchmarkItem",
    "load_benchmark",
    "matches",
    "read_jsonl",
]
