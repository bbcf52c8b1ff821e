"""`catts bench`'s measurements: ratios taken in one run on one machine, so shared-machine noise mostly cancels.

- `overhead`: graph runs, one after another, with every HTTP request recorded (after one unmeasured pass over the
  same items, so the server's prefix and image caches are as warm for the graph as for the replay); then the same
  request bodies sent directly to the same servers in the same order (requests that overlapped in the graph are sent
  together).
  ``overhead_ratio`` = graph wall time / direct wall time; ``client_cpu_per_item_s`` is this process's CPU time per
  graph run (and ``direct_cpu_s`` the direct replay's). Sampling is random, so the replay's completions differ in
  length: both token totals are reported, and ``in_call_ratio`` (graph wall / time inside its own HTTP calls, the
  very same tokens) bounds the overhead from the other side.
- `concurrency`: items per minute of an evaluation (majority + catts-paper at N) at each concurrency level, and at
  16 the same HTTP requests sent directly with 16 in flight: the machine's own limit for that work
  (``throughput_ratio`` = direct wall / evaluation wall); this process's CPU time per item at each level.
- `logprob_cost`: the same sampling requests with ``top_logprobs`` 0, 20 and the graph's setting, interleaved.
- `savings`: majority, catts-paper, catts-adaptive and catts-sequential at N = 1, 2, 4, ... up to N on the same
  samples (the routing policies' token ratios against the paper policy at N; each method's slope of accuracy
  against log2 of its completion tokens), and DeepConf online against majority at a larger N (its 16 warm-up
  traces need N > 16 before it can stop early), with accuracy, tokens, compute and calls per item.

Example:
    >>> settings = BenchSettings(items=4, concurrency=(1, 4))
    >>> settings.early_stop_n
    32
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from catts_graph.benchmarks import BenchmarkItem
from catts_graph.evaluation.compute import parameter_counts
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.report import aggregate, key
from catts_graph.evaluation.results import ResultsFile
from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.vllm_client import VLLMClient
from nodes.common import question_messages
from nodes.state import graph_input

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    """What `catts bench` runs: how many ShapesVQA items per part, N, and the concurrency levels."""

    items: int = 16
    n: int = 16
    early_stop_n: int = 32
    concurrency: tuple[int, ...] = (1, 4, 16, 64)
    config: CATTSConfig = field(default_factory=CATTSConfig)


@dataclass(frozen=True)
class Recorded:
    url: str
    body: bytes
    started: float
    ended: float
    response: bytes  # read for its token count after the timed runs, not during them


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real transport that records every request's URL, body, timing and response."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.records: list[Recorded] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.records.append(Recorded(str(request.url), body, started, time.perf_counter(), content))
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _completion_tokens(content: bytes) -> int:
    try:
        usage = json.loads(content).get("usage") or {}
    except (ValueError, AttributeError):
        return 0
    return int(usage.get("completion_tokens") or 0)


def overlap_groups(records: Sequence[Recorded]) -> list[list[Recorded]]:
    """Requests in start order, grouped where they overlapped in time (sent concurrently by the graph)."""
    groups: list[list[Recorded]] = []
    group_end = -1.0
    for record in sorted(records, key=lambda r: r.started):
        if groups and record.started < group_end:
            groups[-1].append(record)
            group_end = max(group_end, record.ended)
        else:
            groups.append([record])
            group_end = record.ended
    return groups


async def overhead(
    base_url: str,
    model_name: str | None,
    expert: tuple[str, str] | None,
    items: Sequence[BenchmarkItem],
    config: CATTSConfig,
) -> dict[str, Any]:
    """Graph wall time against the same requests sent directly (see the module docstring)."""
    transport = RecordingTransport()
    async with httpx.AsyncClient(transport=transport, timeout=600) as http:
        model = VLLMClient(base_url, model_name, http_client=http)
        expert_model = None if expert is None else VLLMClient(expert[0], expert[1], http_client=http)
        graph = create_catts_graph(model, expert=expert_model, config=config)
        for item in items:  # a warm-up pass, not measured: the server's prefix and image caches then hold the
            await graph.ainvoke(item.graph_input())  # questions for the graph as they will for the replay
        transport.records.clear()
        graph_s = 0.0
        cpu_started = time.process_time()
        for item in items:
            started = time.perf_counter()
            await graph.ainvoke(item.graph_input())
            graph_s += time.perf_counter() - started
        client_cpu_s = time.process_time() - cpu_started
    records = list(transport.records)
    groups = overlap_groups(records)
    async with httpx.AsyncClient(timeout=600) as direct:
        started, cpu_started = time.perf_counter(), time.process_time()
        replies = []
        for group in groups:
            replies += await asyncio.gather(
                *(direct.post(r.url, content=r.body, headers={"Content-Type": "application/json"}) for r in group)
            )
        direct_s, direct_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    in_call_s = sum(max(r.ended for r in group) - group[0].started for group in groups)
    return {
        "items": len(items),
        "requests": len(records),
        "graph_s": graph_s,
        "direct_s": direct_s,
        "in_call_s": in_call_s,
        "graph_completion_tokens": sum(_completion_tokens(r.response) for r in records),
        "direct_completion_tokens": sum(_completion_tokens(reply.content) for reply in replies),
        "overhead_ratio": graph_s / direct_s,
        "in_call_ratio": graph_s / in_call_s,
        "client_cpu_s": client_cpu_s,
        "client_cpu_per_item_s": client_cpu_s / len(items),
        "direct_cpu_s": direct_cpu_s,
    }


async def evaluate(
    model: VLLMClient, expert: Any, items: Sequence[BenchmarkItem], settings: EvalSettings, parameters: Any = None
) -> tuple[dict[str, Any], float]:
    """`catts eval`'s loop on `items` (a throw-away results file); the metrics (with `parameters`) and wall time."""
    with tempfile.TemporaryDirectory() as folder:
        results = ResultsFile(Path(folder) / "results.jsonl")
        started = time.perf_counter()
        await run_evaluation(model, expert, items, settings, results)
        wall = time.perf_counter() - started
        return aggregate(results.read(), parameters), wall


async def send_directly(records: Sequence[Recorded], level: int) -> tuple[float, float]:
    """Seconds to send the recorded request bodies straight to their servers, `level` in flight at a time, and the
    CPU seconds this process spent doing it."""
    gate = asyncio.Semaphore(level)
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=level)) as direct:

        async def send(record: Recorded) -> None:
            async with gate:
                await direct.post(record.url, content=record.body, headers={"Content-Type": "application/json"})

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(send(r) for r in sorted(records, key=lambda r: r.started)))
        return time.perf_counter() - started, time.process_time() - cpu_started


async def concurrency(
    clients: Callable[[httpx.AsyncClient], tuple[VLLMClient, Any]],
    items: Sequence[BenchmarkItem],
    settings: BenchSettings,
    progress: Progress,
) -> dict[str, Any]:
    """Items per minute at each concurrency level (each level gets at least twice its level in items); at the
    reference level (16, or the highest below it) also the same HTTP requests sent directly with as many in flight,
    which is what this machine's servers can do with them: ``throughput_ratio`` = direct wall / evaluation wall."""
    rows = []
    reference = max(level for level in settings.concurrency if level <= 16)
    for level in settings.concurrency:
        count = max(settings.items, 2 * level)  # items repeat under new ids when the level needs more
        chosen = [
            dataclasses.replace(items[i % len(items)], id=f"{i}-{items[i % len(items)].id}") for i in range(count)
        ]
        eval_settings = EvalSettings(
            methods=("majority", "catts-paper"), ns=(settings.n,), config=settings.config, concurrency=level
        )
        transport = RecordingTransport()
        async with httpx.AsyncClient(transport=transport, timeout=600) as http:
            model, expert = clients(http)
            cpu_started = time.process_time()
            _, wall = await evaluate(model, expert, chosen, eval_settings)
            cpu = time.process_time() - cpu_started
        row = {
            "concurrency": level,
            "items": count,
            "wall_s": wall,
            "items_per_min": 60 * count / wall,
            "client_cpu_per_item_s": cpu / count,
        }
        if level == reference:
            direct_s, direct_cpu_s = await send_directly(transport.records, level)
            row |= {
                "requests": len(transport.records),
                "direct_s": direct_s,
                "throughput_ratio": direct_s / wall,
                "direct_cpu_per_item_s": direct_cpu_s / count,
            }
        rows.append(row)
        progress(f"concurrency {level}: {row['items_per_min']:.1f} items/min")
    base = rows[0]["items_per_min"]
    for row in rows:
        row["speedup"] = row["items_per_min"] / base
    return {"levels": rows, "reference": reference}


async def logprob_cost(model: VLLMClient, items: Sequence[BenchmarkItem], settings: BenchSettings) -> dict[str, Any]:
    """Seconds per 1,000 completion tokens of the same sampling requests at top_logprobs 0 (the chosen token's
    log-prob only), 20 and the graph's k."""
    ks = sorted({0, 20, settings.config.sampling.top_logprobs})
    seconds = dict.fromkeys(ks, 0.0)
    tokens = dict.fromkeys(ks, 0)
    for item in items:
        messages = question_messages(graph_input(item.question, [item.image]))
        for k in ks:  # interleaved, so drift on a shared machine hits every setting alike
            params = dataclasses.replace(settings.config.sampling.params(), n=settings.n, top_logprobs=k)
            started = time.perf_counter()
            samples = await model.sample(messages, params)
            seconds[k] += time.perf_counter() - started
            tokens[k] += sum(s.completion_tokens for s in samples)
    rows = [{"top_logprobs": k, "s_per_1k_tokens": 1000 * seconds[k] / max(tokens[k], 1)} for k in ks]
    for row in rows:
        row["relative_to_0"] = row["s_per_1k_tokens"] / rows[0]["s_per_1k_tokens"]
    return {"graph_top_logprobs": settings.config.sampling.top_logprobs, "settings": rows}


def budgets(n: int) -> tuple[int, ...]:
    """The N sweep of the savings part: 1, 2, 4, ... up to `n` (and `n` itself)."""
    return tuple(sorted({2**k for k in range(n.bit_length()) if 2**k <= n} | {n}))


async def savings(
    model: VLLMClient, expert: Any, items: Sequence[BenchmarkItem], settings: BenchSettings
) -> dict[str, Any]:
    """The N sweep up to N of majority, catts-paper, catts-adaptive and catts-sequential on the same samples:
    adaptive and sequential routing against the paper policy at N, and the slope of accuracy against log2 of the
    completion tokens spent (CA-TTS against majority); DeepConf online against majority at a larger N. Each row
    carries its compute per item (parameters x tokens; NaN where a count cannot be read: ``cost`` says why)."""
    methods = ("majority", "catts-paper", "catts-adaptive", "catts-sequential")
    sweep = EvalSettings(methods=methods, ns=budgets(settings.n), config=settings.config, concurrency=8)
    parameters = await parameter_counts(model, expert, expert if isinstance(expert, VLLMClient) else None)
    metrics, _ = await evaluate(model, expert, items, sweep, parameters)
    online = EvalSettings(
        methods=("majority", "deepconf-online"), ns=(settings.early_stop_n,), config=settings.config, concurrency=8
    )
    early, _ = await evaluate(model, expert, items, online, parameters)

    def row(m: dict[str, Any], method: str, n: int) -> dict[str, Any]:
        r = m["methods"][key(method, n)]
        fields = ("accuracy", "completion_tokens", "tokens", "compute", "calls", "expert_calls")
        return {"method": method, "n": n, **{f: r[f] for f in fields}}

    at_n = [row(metrics, m, settings.n) for m in methods]
    paper = at_n[1]
    stop = [row(early, m, settings.early_stop_n) for m in ("majority", "deepconf-online")]
    slopes = {m: metrics["token_slopes"][m] for m in ("majority", "catts-paper")}
    return {
        "at_n": at_n,
        "sweep": [row(metrics, m, n) for m in methods for n in sweep.ns],
        "adaptive_token_ratio": at_n[2]["completion_tokens"] / paper["completion_tokens"],
        "adaptive_accuracy_delta": at_n[2]["accuracy"] - paper["accuracy"],
        "sequential_token_ratio": at_n[3]["completion_tokens"] / paper["completion_tokens"],
        "sequential_accuracy_delta": at_n[3]["accuracy"] - paper["accuracy"],
        "token_slopes": slopes,
        "slope_ratio": slopes["catts-paper"] / slopes["majority"] if slopes["majority"] > 0 else math.nan,
        "early_stop": stop,
        "early_stop_token_ratio": stop[1]["completion_tokens"] / stop[0]["completion_tokens"],
        "early_stop_accuracy_delta": stop[1]["accuracy"] - stop[0]["accuracy"],
        "cost": {k: metrics["cost"][k] for k in ("field", "note", "parameters")},  # compute, or why not
    }
