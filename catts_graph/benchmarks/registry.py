"""`load_benchmark`: a benchmark by name.

Names: ``shapes`` (held-out ShapesVQA items, world seed 2; ``shapes:SEED`` picks another seed), ``jsonl:PATH`` (the
JSONL contract, `catts_graph.benchmarks.jsonl`), and the public benchmarks ``mathvista``, ``mathvision``, ``mmmu``,
``mmstar`` (``NAME:PATH`` for a local copy; see `catts_graph.benchmarks.public`).

Example:
    >>> bench = load_benchmark("shapes", limit=3)
    >>> len(bench.items), bench.items[0].answer_type in ("integer", "text")
    (3, True)
"""

from __future__ import annotations

from catts_graph.benchmarks.items import Benchmark, BenchmarkError
from catts_graph.benchmarks.jsonl import read_jsonl
from catts_graph.benchmarks.public import HUB, load_public
from catts_graph.benchmarks.shapes_vqa import SHAPES_EVAL_SEED, shapes_items

PUBLIC = tuple(HUB)  # mathvista, mathvision, mmmu, mmstar


def load_benchmark(
    spec: str, *, limit: int | None = None, skip_bad_lines: bool = False, allow_remote_images: bool = False
) -> Benchmark:
    """The benchmark `spec` (``shapes``, ``shapes:SEED``, ``jsonl:PATH``, ``NAME`` or ``NAME:PATH`` of a public
    benchmark), its first `limit` items."""
    if limit is not None and limit < 1:
        raise BenchmarkError("--limit must be at least 1.")
    name, _, arg = spec.partition(":")
    if name == "shapes":
        try:
            seed = int(arg) if arg else SHAPES_EVAL_SEED
        except ValueError:
            raise BenchmarkError(f"shapes:SEED needs an integer seed, got {arg!r}.") from None
        return Benchmark(f"shapes:{seed}", shapes_items(seed, limit))
    if name == "jsonl" and arg:
        items, skipped = read_jsonl(arg, skip_bad_lines=skip_bad_lines, allow_remote_images=allow_remote_images)
        return Benchmark(spec, items[:limit] if limit else items, skipped)
    if name in PUBLIC:
        return load_public(name, arg or None, limit)
    raise BenchmarkError(
        f"unknown benchmark {spec!r}; use shapes, shapes:SEED, jsonl:PATH, or {', '.join(PUBLIC)} (optionally :PATH)."
    )
