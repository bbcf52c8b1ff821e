"""The expert alone, as baselines beside CA-TTS: ``expert`` and ``expert-majority``.

- ``expert``: the expert's greedy answer to the plain question: the request ``greedy`` sends (the question and its
  image, temperature 0, the run's token limit), sent to the expert's server; reported at N = 1, with its declared
  confidence as greedy's.
- ``expert-majority``: max(N) samples of the expert in one request at the run's sampling settings (temperature,
  top-k, token limit), a plain majority over the first N at every N, as ``majority`` does with the base model's.

Their tokens are the expert's (``expert_tokens`` of each result line). The expert here must sample with log-probs (a
`VisionLanguageModel`, e.g. a `VLLMClient` of the expert's server); asking for these methods without one raises
`ExpertRequiredError`. The question is the plain one even in a grounded run: the expert is not asked for boxes, as
the graph's own question to it is plain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catts_graph.benchmarks import BenchmarkItem
from catts_graph.evaluation.methods import EXPERT_BASELINES, Prediction, greedy_prediction, vote_prediction
from catts_graph.graph.config import CATTSConfig
from nodes.common import question_messages
from nodes.declared import resolve_source
from nodes.errors import InvalidInputError
from nodes.protocol import Sample, SamplingParams, VisionLanguageModel
from nodes.sample import sample_record
from nodes.state import SampleRecord


class ExpertRequiredError(InvalidInputError):
    """A method that asks the expert alone was requested, and no expert model is configured."""


def require_expert(methods: Sequence[str], expert_model: VisionLanguageModel | None) -> None:
    """Raise `ExpertRequiredError` when `methods` ask the expert alone and there is no `expert_model`."""
    asked = [m for m in methods if m in EXPERT_BASELINES]
    if asked and expert_model is None:
        raise ExpertRequiredError(
            f"{' and '.join(asked)} ask the expert alone, and no expert model is configured: serve one and give "
            "--expert-base-url URL --expert-model NAME (without --base-url the bundled expert is served), or pass "
            "expert_model to the evaluation"
        )


@dataclass(frozen=True)
class BaselineResult:
    """One result line's content: the method at N, its prediction, its wall time and what else it records."""

    method: str
    n: int
    prediction: Prediction
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)


async def expert_baselines(
    expert_model: VisionLanguageModel | None,
    item: BenchmarkItem,
    methods: Sequence[str],
    ns: Sequence[int],
    config: CATTSConfig,
) -> list[BaselineResult]:
    """The ``expert`` and ``expert-majority`` lines of one item (those of `methods`, none if it names neither), at
    every N of `ns`; `ExpertRequiredError` when `methods` name one and there is no `expert_model`."""
    require_expert(methods, expert_model)
    if expert_model is None:
        return []
    inputs = item.graph_input()
    messages = question_messages(inputs)

    def record(sample: Sample) -> SampleRecord:
        return sample_record(sample, answer_type=item.answer_type, choices=inputs["choices"],
                             window=config.vote.window, steps=config.steps)  # fmt: skip

    out: list[BaselineResult] = []
    if "expert" in methods:
        started = time.perf_counter()
        greedy_params = SamplingParams(n=1, temperature=0.0, max_tokens=config.sampling.max_tokens)
        sample = (await expert_model.sample(messages, greedy_params))[0]
        greedy = record(sample)
        source = config.confidence.source
        prediction = _expert_tokens(greedy_prediction(greedy, sample.prompt_tokens, source))
        extra = {"confidence_source": resolve_source([greedy], source)}
        out.append(BaselineResult("expert", 1, prediction, time.perf_counter() - started, extra))
    if "expert-majority" in methods:
        max_n = max(ns)
        started = time.perf_counter()
        samples = await expert_model.sample(messages, config.sampling.model_copy(update={"n": max_n}).params())
        wall = time.perf_counter() - started
        records = [record(s) for s in samples]
        prompt_tokens = samples[0].prompt_tokens if samples else 0
        for n in ns:
            prediction = _expert_tokens(vote_prediction(records[:n], "majority", prompt_tokens))
            out.append(BaselineResult("expert-majority", n, prediction, wall * n / max_n))
    return out


def _expert_tokens(prediction: Prediction) -> Prediction:
    """`prediction` with its tokens counted as the expert's, its calls as expert calls."""
    return Prediction(prediction.answer, prediction.confidence, prediction.prompt_tokens,
                      prediction.completion_tokens, model_calls=0, expert_calls=prediction.model_calls,
                      base_tokens=0, expert_tokens=prediction.tokens)  # fmt: skip
