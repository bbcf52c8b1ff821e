"""Faults: a server that dies mid-evaluation, transient errors, an expert that is down, slow or talks garbage, and a
graph run that crashes and resumes from its checkpoint. Every test injects the fault into real components."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_stubs import Reply, StubServer

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.errors import RetriesExhaustedError, ServerError
from catts_graph.serving.server import RunningServer, VLLMServerProcess, free_port
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import TransientModelError
from nodes.protocol import Message, SamplingParams

FAST = {"sampling": {"n": 4, "max_tokens": 48}, "critic": {"critique_max_tokens": 32, "reanswer_max_tokens": 48}}
CHAT_OK = json.dumps(
    {
        "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "\\boxed{2}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
).encode()
MESSAGES = [Message.user("How many shapes are there?")]
StartStub = Callable[[Callable[[str, str], Reply]], StubServer]


# -- transient errors: bounded retries with backoff, then a typed error naming the endpoint ---------------------------
async def test_5xx_is_retried_with_backoff_until_it_succeeds(stub_server: StartStub) -> None:
    attempt = itertools.count()
    server = stub_server(
        lambda m, p: Reply(503, b'{"error": {"message": "busy"}}') if next(attempt) < 2 else Reply(200, CHAT_OK)
    )
    started = time.monotonic()
    async with VLLMClient(server.base_url, "stub") as client:
        samples = await client.sample(MESSAGES, SamplingParams(n=1))
    assert samples[0].text == "\\boxed{2}" and len(server.requests) == 3
    assert time.monotonic() - started >= 0.5 + 1.0  # two backoff sleeps


async def test_persistent_5xx_gives_up_after_the_budget_with_a_typed_error_naming_the_server(
    stub_server: StartStub,
) -> None:
    server = stub_server(lambda m, p: Reply(500, b'{"error": {"message": "engine dead"}}'))
    async with VLLMClient(server.base_url, "stub", max_retries=3) as client:
        with pytest.raises(RetriesExhaustedError, match=f"{server.base_url} after 4 attempts") as info:
            await client.sample(MESSAGES, SamplingParams())
    assert isinstance(info.value.last, ServerError) and "engine dead" in str(info.value)
    assert not isinstance(info.value, TransientModelError)  # graph retry policies do not multiply the budget
    assert len(server.requests) == 4


async def test_timeouts_are_retried_within_the_time_budget(stub_server: StartStub) -> None:
    server = stub_server(lambda m, p: Reply(200, CHAT_OK, delay_s=5.0))
    started = time.monotonic()
    async with VLLMClient(server.base_url, "stub", timeout_s=0.5, max_retries=5, retry_budget_s=2.0) as client:
        with pytest.raises(RetriesExhaustedError, match="did not answer within 0.5 s"):
            await client.sample(MESSAGES, SamplingParams())
    assert time.monotonic() - started < 4.0  # the budget, not max_retries, stopped it
    assert 2 <= len(server.requests) < 6


async def test_client_errors_are_not_retried(stub_server: StartStub) -> None:
    server = stub_server(lambda m, p: Reply(400, b'{"error": {"message": "bad request"}}'))
    async with VLLMClient(server.base_url, "stub") as client:
        with pytest.raises(Exception, match="HTTP 400"):
            await client.sample(MESSAGES, SamplingParams())
    assert len(server.requests) == 1


async def test_requests_in_flight_are_bounded_by_max_concurrency(stub_server: StartStub) -> None:
    in_flight, peak = 0, 0

    def script(method: str, path: str) -> Reply:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        time.sleep(0.2)
        in_flight -= 1
        return Reply(200, CHAT_OK)

    server = stub_server(script)
    async with VLLMClient(server.base_url, "stub", max_concurrency=3) as client:
        await asyncio.gather(*(client.sample(MESSAGES, SamplingParams()) for _ in range(12)))
    assert len(server.requests) == 12 and peak == 3


# -- the expert down, slow, or answering garbage: the graph degrades to its recorded fallbacks ------------------------
def _expert_scripts() -> dict[str, Callable[[str, str], Reply] | None]:
    garbage = ("lorem ipsum " * 20_000).encode()
    return {
        "down": None,  # nothing listens
        "not-json": lambda m, p: Reply(200, b"<html>" + garbage + b"</html>", "text/html"),
        "huge-reply": lambda m, p: Reply(
            200, CHAT_OK.replace(b"\\\\boxed{2}", json.dumps(garbage.decode())[1:-1].encode())
        ),
        "slow": lambda m, p: Reply(200, CHAT_OK, delay_s=30.0),
    }


@pytest.mark.vllm
@pytest.mark.parametrize("fault", list(_expert_scripts()))
async def test_a_failing_expert_degrades_to_recorded_fallbacks_never_a_hang(
    fault: str, vllm_server: RunningServer, shapes_image: Path, stub_server: StartStub
) -> None:
    script = _expert_scripts()[fault]
    expert_url = f"http://127.0.0.1:{free_port()}" if script is None else stub_server(script).base_url
    expert = VLLMClient(expert_url, "expert", timeout_s=1.0, max_retries=1)
    started = time.monotonic()
    async with vllm_server.client() as model, expert:
        graph = create_catts_graph(model, expert=expert, config=CATTSConfig.model_validate(FAST))
        out = await asyncio.wait_for(
            graph.ainvoke({"question": "How many shapes are there?", "images": [str(shapes_image)]}), timeout=60
        )
    assert time.monotonic() - started < 30
    assert out["answer"] is not None and {"self_consistency", "critic", "self_check"} <= set(out["modules_run"])
    fallbacks = " | ".join(out["fallbacks"])
    voter_asked = "voter" in out["modules_run"]  # not asked when the samples agree on one candidate
    if fault == "huge-reply":  # parsed as data: the Voter finds no probabilities, the critique is cut to size
        assert ("voter" in fallbacks) == voter_asked
        assert len(out["critique"]["critique"]) <= 4 * FAST["critic"]["critique_max_tokens"]
    else:
        assert ("voter" in fallbacks) == voter_asked
        assert "critic: expert call failed" in fallbacks and expert_url in fallbacks
    if fault == "slow":
        assert "did not answer within 1 s" in fallbacks


# -- the server killed mid-`catts eval` and restarted: --resume finishes every item exactly once ----------------------
@pytest.mark.vllm
@pytest.mark.slow
def test_server_killed_mid_eval_then_resume_evaluates_every_item_exactly_once(
    vllm_process: VLLMServerProcess, tmp_path: Path
) -> None:
    out, n_items = tmp_path / "run", 40
    command = [
        sys.executable, "-m", "catts_graph", "eval", "--base-url", vllm_process.base_url,
        "--model", vllm_process.served_model_name, "--benchmark", "shapes", "--limit", str(n_items),
        "--methods", "greedy,majority", "--n", "2", "--max-tokens", "48", "--concurrency", "2", "--out", str(out),
    ]  # fmt: skip
    results = out / "results.jsonl"
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (results.exists() and results.read_text().count("\n") >= 3 * 3):  # three items on disk
            assert first.poll() is None and time.monotonic() < deadline, "the evaluation never got going"
            time.sleep(0.05)
        os.killpg(vllm_process.pid, signal.SIGKILL)  # the server dies mid-run
        _, stderr = first.communicate(timeout=120)
    finally:
        vllm_process.stop()
        if first.poll() is None:
            first.kill()
        vllm_process.start()  # the session's server comes back on the same port
        vllm_process.wait_healthy()
    assert first.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr and "--resume" in stderr and vllm_process.base_url in stderr
    saved = {json.loads(line)["id"] for line in results.read_text().splitlines()}
    assert 3 <= len(saved) < n_items

    second = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = [json.loads(line) for line in results.read_text().splitlines()]  # no half-written line anywhere
    counts = Counter((line["id"], line["method"], line["n"]) for line in lines)
    assert set(counts.values()) == {1} and len({line["id"] for line in lines}) == n_items
    assert len(lines) == n_items * 2


# -- a graph run with a checkpointer resumes after its process is killed ----------------------------------------------
CRASHING_RUN = """
import asyncio, json, os, signal, sys
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from catts_graph import CATTSConfig, VLLMClient, create_catts_graph

base_url, model_name, db, image, crash = sys.argv[1:6]
calls = []

class Recording:
    def __init__(self, model):
        self.model = model
    @property
    def name(self):
        return self.model.name
    async def sample(self, messages, params):
        calls.append("sample" if params.temperature > 0 else "greedy")
        return await self.model.sample(messages, params)
    async def score(self, messages, answer, *, top_logprobs=0):
        if crash == "crash":
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies inside the self-check
        calls.append("score")
        return await self.model.score(messages, answer, top_logprobs=top_logprobs)

async def main():
    config = CATTSConfig.model_validate(json.loads(os.environ["CATTS_TEST_CONFIG"]))
    run = {"configurable": {"thread_id": "question-1"}}
    async with AsyncSqliteSaver.from_conn_string(db) as saver, VLLMClient(base_url, model_name) as model:
        graph = create_catts_graph(Recording(model), config=config, checkpointer=saver)
        inputs = {"question": "How many shapes are there?", "images": [image]} if crash == "crash" else None
        out = await graph.ainvoke(inputs, run, durability="sync")  # each step's checkpoint on disk before the next
    print(json.dumps({"calls": calls, "answer": out["answer"], "modules_run": out["modules_run"]}))

asyncio.run(main())
"""


@pytest.mark.vllm
def test_graph_run_with_a_checkpointer_resumes_after_its_process_is_killed(
    vllm_server: RunningServer, shapes_image: Path, tmp_path: Path
) -> None:
    script, db = tmp_path / "run.py", str(tmp_path / "checkpoints.sqlite")
    script.write_text(CRASHING_RUN)
    env = {**os.environ, "CATTS_TEST_CONFIG": json.dumps(FAST)}

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(script), vllm_server.base_url, vllm_server.model, db, str(shapes_image), mode]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)

    crashed = run("crash")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert "sample" not in out["calls"] and "score" in out["calls"]  # sampling and critic are not run again
    assert out["answer"] is not None and {"self_consistency", "critic", "self_check"} <= set(out["modules_run"])
