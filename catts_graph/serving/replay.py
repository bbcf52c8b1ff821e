"""A loopback OpenAI-compatible server that records a real run's HTTP traffic, or answers it again from a recording.

`catts bench --backend replay` measures the graph's own cost as it would be beside a GPU server: the model servers'
work is taken off the client's cores, and every request is answered with its recorded response after its recorded
latency, for next to no CPU (a dictionary look-up, a sleep and a write of bytes).

- **record** (`recording_app`): a reverse proxy. ``/NAME/PATH`` is forwarded to the upstream server ``NAME`` (e.g.
  ``base``, ``expert``) at ``PATH``; each exchange is appended to a gzip JSONL recording: the upstream, method, path,
  request body, status, response body and the seconds the upstream took (from sending the request until the last
  byte of the reply), never a header. The first line is a header with the caller's `meta` (the run's settings).
- **replay** (`replay_app`): the k-th request of a body recorded for that upstream and path gets the k-th response
  recorded for it (so a run that sends what was recorded, in the same order of parts, gets the recorded run's replies
  and then sends exactly the recorded follow-up requests), after the shortest latency recorded for that body (its
  service time with the least queueing and contention), scaled by `latency_scale`: the same for a graph's request
  and the same body sent directly, whatever the load on the recorded server was at either time. Past its recorded
  count a body starts again at its first response; a request never recorded gets the next response recorded for the
  same upstream and path (a miss in ``GET /replay/stats``: the run then differs from the recording).

`catts_graph.serving.replay_process` runs this file as a script (``python .../replay.py record|replay ...``): it
imports neither `catts_graph` nor `nodes`, so the server starts in about a second and its process holds nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FORMAT = "catts-replay/1"
JSON = "application/json"


class RecordingError(ValueError):
    """A recording file that cannot be read: not one, an unknown format, or a bad line (named)."""


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its reply."""

    upstream: str
    method: str
    path: str
    body: bytes
    status: int
    response: bytes
    latency_s: float

    def to_json(self) -> dict[str, Any]:
        text = {k: v.decode("utf-8", "surrogateescape") for k, v in (("body", self.body), ("response", self.response))}
        return {"upstream": self.upstream, "method": self.method, "path": self.path, "status": self.status,
                "latency_s": self.latency_s, **text}  # fmt: skip


def key(upstream: str, method: str, path: str, body: bytes) -> bytes:
    """What a recorded request is found by: its upstream, method, path and exact body."""
    return hashlib.sha256(b"\0".join((upstream.encode(), method.encode(), path.encode(), body))).digest()


def read_meta(path: str | Path) -> dict[str, Any]:
    """The `meta` of a recording's header (its first line only); `RecordingError` names what is wrong."""
    return _read(path, header_only=True)[0]


def read_recording(path: str | Path) -> tuple[dict[str, Any], list[Exchange]]:
    """The header's `meta` and the exchanges of a recording; `RecordingError` names what is wrong."""
    return _read(path, header_only=False)


def _read(path: str | Path, *, header_only: bool) -> tuple[dict[str, Any], list[Exchange]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = [f.readline()] if header_only else f.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise RecordingError(f"{path}: not a readable recording ({e})") from None
    try:
        header = json.loads(lines[0]) if lines else {}
    except ValueError:
        header = {}
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a {FORMAT} recording; make one with `catts bench --record FILE`")
    exchanges = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            r = json.loads(line)
            exchanges.append(
                Exchange(r["upstream"], r["method"], r["path"], r["body"].encode("utf-8", "surrogateescape"),
                         int(r["status"]), r["response"].encode("utf-8", "surrogateescape"), float(r["latency_s"]))
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RecordingError(f"{path}:{number}: a bad exchange ({e})") from None
    return dict(header.get("meta") or {}), exchanges


@dataclass
class Replay:
    """The recorded answers, found by `key`: each body's responses in recorded order with its shortest latency, and
    a pool per upstream and path for requests never recorded."""

    answers: dict[bytes, tuple[list[tuple[int, bytes]], float]] = field(default_factory=dict)
    pools: Mapping[tuple[str, str, str], Iterator[tuple[int, bytes, float]]] = field(default_factory=dict)
    sent: dict[bytes, int] = field(default_factory=lambda: defaultdict(int))
    requests: int = 0
    misses: int = 0

    @classmethod
    def of(cls, exchanges: list[Exchange], latency_scale: float = 1.0) -> Replay:
        replies: dict[bytes, list[tuple[int, bytes]]] = defaultdict(list)
        latencies: dict[bytes, list[float]] = defaultdict(list)
        by_path: dict[tuple[str, str, str], list[Exchange]] = defaultdict(list)
        for x in exchanges:
            k = key(x.upstream, x.method, x.path, x.body)
            replies[k].append((x.status, x.response))
            latencies[k].append(x.latency_s)
            by_path[(x.upstream, x.method, x.path)].append(x)
        answers = {k: (rs, latency_scale * min(latencies[k])) for k, rs in replies.items()}
        pools = {
            where: itertools.cycle([(x.status, x.response, latency_scale * x.latency_s) for x in xs])
            for where, xs in by_path.items()
        }
        return cls(answers, pools)

    def answer(self, upstream: str, method: str, path: str, body: bytes) -> tuple[int, bytes, float] | None:
        """The status, body and delay of the reply to this request (None: nothing recorded for its path)."""
        self.requests += 1
        k = key(upstream, method, path, body)
        found = self.answers.get(k)
        if found is None:
            self.misses += 1
            pool = self.pools.get((upstream, method, path))
            return None if pool is None else next(pool)
        replies, latency = found
        status, content = replies[self.sent[k] % len(replies)]
        self.sent[k] += 1
        return status, content, latency


def replay_app(exchanges: list[Exchange], *, latency_scale: float = 1.0) -> Starlette:
    """The replay server (see the module docstring)."""
    replay = Replay.of(exchanges, latency_scale)

    recorded = len(exchanges)

    async def stats(request: Request) -> Response:
        return JSONResponse({"recorded": recorded, "requests": replay.requests, "misses": replay.misses})

    async def answer(request: Request) -> Response:
        upstream, path = request.path_params["upstream"], request.path_params["path"]
        found = replay.answer(upstream, request.method, path, await request.body())
        if found is None:
            return JSONResponse({"error": f"nothing recorded for {request.method} /{upstream}/{path}"}, 404)
        status, content, latency = found
        await asyncio.sleep(latency)
        return Response(content, status, media_type=JSON)

    return Starlette(routes=[*_health_routes(), Route("/replay/stats", stats), _route(answer)])


def recording_app(upstreams: Mapping[str, str], out: Path, meta: Mapping[str, Any]) -> Starlette:
    """The recording proxy (see the module docstring); the recording is complete once the server has stopped."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        file: IO[str] = gzip.open(out, "wt", encoding="utf-8", compresslevel=3)  # noqa: SIM115 (closed below)
        file.write(json.dumps({"format": FORMAT, "meta": dict(meta)}) + "\n")
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(timeout=None, limits=limits) as http:
            state.update(file=file, http=http)
            try:
                yield
            finally:
                file.close()

    async def forward(request: Request) -> Response:
        upstream, path = request.path_params["upstream"], request.path_params["path"]
        if upstream not in upstreams:
            return JSONResponse({"error": f"no upstream {upstream!r}; known: {sorted(upstreams)}"}, 404)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in ("content-type", "authorization")}
        started = time.perf_counter()
        reply = await state["http"].request(
            request.method, f"{upstreams[upstream]}/{path}", content=body, headers=headers
        )
        latency = time.perf_counter() - started
        exchange = Exchange(upstream, request.method, path, body, reply.status_code, reply.content, latency)
        state["file"].write(json.dumps(exchange.to_json()) + "\n")
        return Response(reply.content, reply.status_code, media_type=reply.headers.get("content-type", JSON))

    return Starlette(routes=[*_health_routes(), _route(forward)], lifespan=lifespan)


def _health_routes() -> list[Route]:
    async def healthy(request: Request) -> Response:
        return Response(b"", 200)

    return [Route("/health", healthy)]


def _route(endpoint: Any) -> Route:
    return Route("/{upstream}/{path:path}", endpoint, methods=["GET", "POST"])


def main(argv: list[str] | None = None) -> None:
    """``python replay.py record --upstream base=URL ... --out FILE --meta JSON --port P`` or ``python replay.py
    replay --recording FILE [--latency-scale X] --port P``: serve on 127.0.0.1 until SIGTERM."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="replay.py")
    parser.add_argument("mode", choices=["record", "replay"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--meta", default="{}")
    parser.add_argument("--recording", type=Path)
    parser.add_argument("--latency-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.mode == "record":
        upstreams = dict(spec.split("=", 1) for spec in args.upstream)
        app = recording_app(upstreams, args.out, json.loads(args.meta))
    else:
        app = replay_app(read_recording(args.recording)[1], latency_scale=args.latency_scale)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
