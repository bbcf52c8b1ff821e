"""Step-wise visual contrastive decoding: a hand-computed two-step example, and the in-process engine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodes.contrastive import contrastive_greedy, contrastive_logits
from nodes.protocol import Message, SamplingParams


def test_two_step_example_by_hand() -> None:
    # Vocabulary: 0 = "2", 1 = "3", 2 = "<eos>". alpha = 1, beta = 0.25.
    # Step 1: clean p = (0.5, 0.4, 0.1), noised p = (0.7, 0.2, 0.1).
    #   mixed = 2 log p_clean - log p_noised = (2 ln .5 - ln .7, 2 ln .4 - ln .2, 2 ln .1 - ln .1)
    #         = (-1.0296, -0.2231, -2.3026); token 2 is implausible (0.1 < 0.25 * 0.5); argmax -> 1 ("3"),
    #   although plain greedy would pick 0.
    # Step 2 (prefix [1]): clean p = (0.1, 0.1, 0.8), noised p = (0.1, 0.1, 0.8): no contrast -> 2 (<eos>).
    table = {
        (): (np.log([0.5, 0.4, 0.1]), np.log([0.7, 0.2, 0.1])),
        (1,): (np.log([0.1, 0.1, 0.8]), np.log([0.1, 0.1, 0.8])),
    }
    mixed = contrastive_logits(*table[()], alpha=1.0, beta=0.25)
    assert mixed[:2] == pytest.approx([2 * math.log(0.5) - math.log(0.7), 2 * math.log(0.4) - math.log(0.2)])
    assert mixed[2] == -math.inf

    def next_logits(prefix: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        return table[tuple(prefix)]

    assert contrastive_greedy(next_logits, alpha=1.0, beta=0.25, max_tokens=5, stop_ids=[2]) == [1, 2]
    assert contrastive_greedy(next_logits, alpha=0.0, beta=0.2, max_tokens=1, stop_ids=[2]) == [0]  # plain greedy


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> object:
    from catts_graph.serving.engine import TransformersEngine
    from catts_graph.shapes.tiny_vlm import make_tiny_model

    return TransformersEngine(make_tiny_model(tmp_path_factory.mktemp("eng") / "tiny", seed=0))


@pytest.fixture
def messages(tmp_path: Path) -> list[Message]:
    path = tmp_path / "img.png"
    Image.new("RGB", (112, 112), (200, 30, 30)).save(path)
    return [Message.user("How many shapes are there?", [path])]


@pytest.mark.slow
async def test_engine_greedy_scores_and_contrast(engine: object, messages: list[Message], tmp_path: Path) -> None:
    from catts_graph.serving.engine import TransformersEngine

    assert isinstance(engine, TransformersEngine)
    greedy = (await engine.sample(messages, SamplingParams(n=1, temperature=0.0, max_tokens=6)))[0]
    assert 1 <= greedy.completion_tokens <= 6 and all(len(t.top_logprobs) == 20 for t in greedy.tokens)
    assert all(t.top_tokens[0] == t.token for t in greedy.tokens)  # greedy: the chosen token ranks first
    sampled = await engine.sample(messages, SamplingParams(n=3, temperature=1.0, max_tokens=4))
    assert len(sampled) == 3
    generate, asked = engine.model.generate, []
    engine.model.generate = lambda **kw: asked.append(kw) or generate(**kw)  # what sampling hands transformers
    try:
        await engine.sample(messages, SamplingParams(n=2, temperature=1.0, min_p=0.1, max_tokens=2))
        await engine.sample(messages, SamplingParams(n=2, temperature=1.0, max_tokens=2))
    finally:
        del engine.model.generate
    assert [kw["min_p"] for kw in asked] == [0.1, None]  # min-p on; off (0)
    # Teacher-forcing the greedy text gives back the log-probs it was generated with.
    score = await engine.score(messages, greedy.text, top_logprobs=5)
    assert list(score.logprobs) == pytest.approx([t.logprob for t in greedy.tokens][: len(score.logprobs)], abs=1e-4)
    assert [len(t) for t in score.top_tokens] == [5] * len(score.tokens)
    assert [t[0] for t in score.top_tokens] == list(score.tokens)  # the greedy text: each token ranks first
    # alpha = 0 with a permissive cut-off is plain greedy decoding.
    noised = Image.new("RGB", (112, 112), (128, 128, 128))
    noised_path = tmp_path / "noised.png"
    noised.save(noised_path)
    from nodes.images import to_data_url

    plain = await engine.contrastive_generate(messages, [to_data_url(noised_path)], alpha=0.0, beta=1e-9, max_tokens=6)
    assert plain.text == greedy.text
    contrasted = await engine.contrastive_generate(
        messages, [to_data_url(noised_path)], alpha=3.0, beta=1e-9, max_tokens=6
    )
    assert contrasted.completion_tokens >= 1
