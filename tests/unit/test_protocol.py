"""Domain types of the model protocol and the OpenAI wire conversion."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from catts_graph.serving.wire import (
    ChatCompletionResponse,
    message_to_wire,
    sampling_request,
    scoring_request,
)
from nodes.errors import InvalidInputError
from nodes.protocol import AnswerScore, Message, Sample, SamplingParams, TokenLogprob, VisionLanguageModel


def test_user_message_encodes_images_once() -> None:
    msg = Message.user("q?", images=[Image.new("RGB", (4, 4))])
    assert len(msg.images) == 1 and msg.images[0].startswith("data:image/png;base64,")
    wire = message_to_wire(msg)
    assert wire["content"][0] == {"type": "image_url", "image_url": {"url": msg.images[0]}}
    assert wire["content"][1] == {"type": "text", "text": "q?"}
    assert message_to_wire(Message.system("s")) == {"role": "system", "content": "s"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -2}, "top_k"),
        ({"min_p": -0.1}, "min_p"),
        ({"min_p": 1.0}, "min_p"),
        ({"min_p": math.nan}, "min_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_logprobs": 21}, "top_logprobs"),
    ],
)
def test_sampling_params_validate(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        SamplingParams(**kwargs)  # type: ignore[arg-type]


def test_sampling_request_has_no_seed_and_asks_for_logprobs() -> None:
    body = sampling_request("m", [Message.user("q")], SamplingParams(n=4, top_k=40, stop=("\n\n",)))
    assert "seed" not in body
    assert body["n"] == 4 and body["logprobs"] is True and body["top_logprobs"] == 21  # k + 1
    assert body["top_k"] == 40 and body["stop"] == ["\n\n"]
    assert sampling_request("m", [], SamplingParams())["top_k"] == -1  # vLLM's "off"


def test_sampling_request_carries_min_p() -> None:
    assert sampling_request("m", [], SamplingParams(min_p=0.05))["min_p"] == 0.05
    assert sampling_request("m", [], SamplingParams())["min_p"] == 0.0  # vLLM's "off"


def test_scoring_request_prefills_an_open_assistant_turn() -> None:
    body = scoring_request("m", [Message.user("q")], "\\boxed{2}", top_logprobs=0)
    assert body["messages"][-1] == {"role": "assistant", "content": "\\boxed{2}"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["max_tokens"] == 1 and body["prompt_logprobs"] == 0


def test_parse_vllm_chat_response_with_prompt_logprobs() -> None:
    raw = {
        "id": "x",
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
                "logprobs": {
                    "content": [{"token": "ok", "logprob": -0.1, "top_logprobs": [{"token": "ok", "logprob": -0.1}]}]
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        "prompt_logprobs": [None, {"17": {"logprob": -5.5, "rank": 3, "decoded_token": "."}}],
        "prompt_token_ids": [1, 17],
        "unknown_field": 1,
    }
    parsed = ChatCompletionResponse.model_validate(raw)
    assert parsed.prompt_logprobs is not None and parsed.prompt_logprobs[0] is None
    assert parsed.prompt_logprobs[1]["17"].logprob == -5.5
    assert parsed.choices[0].logprobs is not None


def test_sample_confidence_and_probability() -> None:
    sample = Sample("x", (TokenLogprob("a", math.log(0.5), (-1.0, -3.0)), TokenLogprob("b", 0.0, (-2.0, -4.0))))
    assert sample.confidence == pytest.approx(2.5)
    assert sample.probability == pytest.approx(math.sqrt(0.5))
    assert sample.completion_tokens == 2 and not sample.truncated
    assert math.isnan(Sample("", ()).confidence)


def test_answer_score_sums() -> None:
    score = AnswerScore(("a", "b"), (-1.0, -3.0))
    assert score.total == -4.0 and score.mean == -2.0
    assert math.isnan(AnswerScore((), ()).mean)


def test_vllm_client_satisfies_the_protocol() -> None:
    from catts_graph import VLLMClient

    assert isinstance(VLLMClient("http://127.0.0.1:1"), VisionLanguageModel)
