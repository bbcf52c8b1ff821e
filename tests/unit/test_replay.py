"""The replay backend of `catts bench`: the loopback server answers recorded requests with their recorded replies and
latencies, counts what was never recorded, and the recording proxy writes what the replay reads."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
import pytest

from catts_graph.serving.replay import FORMAT, Exchange, RecordingError, read_meta, read_recording, replay_app
from catts_graph.serving.replay_process import recording, replaying
from catts_graph.serving.vllm_client import VLLMClient
from nodes.protocol import Message, SamplingParams

CHAT = "v1/chat/completions"


def reply(text: str, completion_tokens: int = 2) -> bytes:
    """A chat completion as vLLM writes it: one choice with per-token top log-probs."""
    token = {"token": text, "logprob": -0.1, "top_logprobs": [{"token": text, "logprob": -0.1}]}
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
              "logprobs": {"content": [token]}}  # fmt: skip
    usage = {"prompt_tokens": 5, "completion_tokens": completion_tokens, "total_tokens": 5 + completion_tokens}
    return json.dumps(
        {"id": "x", "object": "chat.completion", "model": "m", "choices": [choice], "usage": usage}
    ).encode()


def exchange(body: bytes, response: bytes, latency_s: float, path: str = CHAT) -> Exchange:
    return Exchange("base", "POST", path, body, 200, response, latency_s)


MODELS = Exchange("base", "GET", "v1/models", b"", 200, b'{"object": "list", "data": [{"id": "m"}]}', 0.0)


def write_recording(path: Path, exchanges: list[Exchange], meta: dict[str, object] | None = None) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"format": FORMAT, "meta": meta or {}}) + "\n")
        for x in exchanges:
            f.write(json.dumps(x.to_json()) + "\n")
    return path


async def test_a_recorded_body_gets_its_replies_in_recorded_order_after_its_shortest_latency() -> None:
    first, second = reply("4"), reply("5")
    app = replay_app([exchange(b'{"q":1}', first, 0.20), exchange(b'{"q":1}', second, 0.60)], latency_scale=1.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replay") as http:
        started = time.perf_counter()
        answers = [await http.post(f"/base/{CHAT}", content=b'{"q":1}') for _ in range(3)]
        took = (time.perf_counter() - started) / 3
        assert [a.content for a in answers] == [first, second, first]  # in order, then from the start again
        assert 0.19 <= took < 0.55  # each after the shorter of 0.2 and 0.6
        stats = (await http.get("/replay/stats")).json()
    assert stats == {"recorded": 2, "requests": 3, "misses": 0}


async def test_a_body_never_recorded_gets_a_reply_of_its_path_and_is_counted() -> None:
    app = replay_app([exchange(b'{"q":1}', reply("4"), 0.0), exchange(b'{"q":2}', reply("5"), 0.0)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replay") as http:
        cycled = [(await http.post(f"/base/{CHAT}", content=b'{"q":3}')).content for _ in range(3)]
        unknown = await http.post("/base/v1/completions", content=b"{}")
        stats = (await http.get("/replay/stats")).json()
    assert cycled == [reply("4"), reply("5"), reply("4")]
    assert unknown.status_code == 404 and "nothing recorded" in unknown.text
    assert stats == {"recorded": 2, "requests": 4, "misses": 4}


def test_a_file_that_is_no_recording_is_refused_with_what_to_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain.gz"
    with gzip.open(plain, "wt") as f:
        f.write('{"format": "other"}\n')
    with pytest.raises(RecordingError, match="catts bench --record"):
        read_recording(plain)
    (tmp_path / "text.gz").write_text("not gzip")
    with pytest.raises(RecordingError, match="not a readable recording"):
        read_recording(tmp_path / "text.gz")
    bad = write_recording(tmp_path / "bad.gz", [])
    with gzip.open(bad, "at") as f:
        f.write('{"upstream": "base"}\n')
    with pytest.raises(RecordingError, match=r"bad\.gz:2: a bad exchange"):
        read_recording(bad)


async def test_the_proxy_records_what_the_replay_answers_and_the_client_reads_it(tmp_path: Path) -> None:
    """A VLLMClient samples through the recording proxy (in front of a replay server standing in for vLLM), and then
    from a replay of that recording: the same reply, no miss, and the proxy's file carries the run's meta."""
    upstream_file = write_recording(
        tmp_path / "upstream.gz", [MODELS, exchange(_sampling_body(), reply("7", 3), 0.05)]
    )
    out = tmp_path / "run.replay.gz"
    params = SamplingParams(n=1, max_tokens=8, temperature=1.0, top_logprobs=1)
    messages = [Message.user("How many?")]
    with replaying(upstream_file) as upstream:
        with recording({"base": upstream.url("base")}, out, {"settings": {"n": 1}}) as proxy:
            async with VLLMClient(proxy.url("base")) as client:
                recorded = await client.sample(messages, params)
        assert upstream.stats() == {"recorded": 2, "requests": 2, "misses": 0}  # GET v1/models, then sampling
    meta, exchanges = read_recording(out)
    assert meta == read_meta(out) == {"settings": {"n": 1}} and [x.path for x in exchanges] == ["v1/models", CHAT]
    assert exchanges[1].latency_s >= 0.05 and exchanges[1].response == reply("7", 3)
    with replaying(out) as backend:
        async with VLLMClient(backend.url("base")) as client:
            replayed = await client.sample(messages, params)
        assert backend.stats() == {"recorded": 2, "requests": 2, "misses": 0}
    assert backend.cpu_s is not None and backend.cpu_s > 0
    assert [s.text for s in replayed] == [s.text for s in recorded] == ["7"]


def _sampling_body() -> bytes:
    """The body `VLLMClient.sample` sends for the test's question (recorded once through a throw-away replay)."""
    from catts_graph.serving.wire import sampling_request

    params = SamplingParams(n=1, max_tokens=8, temperature=1.0, top_logprobs=1)
    body = sampling_request("m", [Message.user("How many?")], params)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "replay"], "needs --recording FILE"),
        (["--backend", "replay", "--recording", "NOT_A_RECORDING"], "not a readable recording"),
        (["--backend", "replay", "--recording", "NO_SETTINGS"], "the recording's settings lack items"),
        (["--recording", "NO_SETTINGS"], "--recording is for --backend replay"),
    ],
)
def test_bench_replay_option_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from catts_graph.cli import main

    (tmp_path / "plain.txt").write_text("no recording")
    named = {
        "NOT_A_RECORDING": str(tmp_path / "plain.txt"),
        "NO_SETTINGS": str(write_recording(tmp_path / "r.gz", [])),
    }
    code = main(["bench", "--base-url", "http://127.0.0.1:9", *[named.get(a, a) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
