"""`SampleNode`: N completions in one model call, each with its parsed answer and confidences."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.answers import AnswerType, extract_answer
from nodes.common import emit, question_messages
from nodes.confidence import bottom_percent_confidence, lowest_group_confidence, tail_confidence, token_confidences
from nodes.config import SamplingConfig, VoteConfig, stage_from_context
from nodes.protocol import Sample, VisionLanguageModel
from nodes.state import CATTSState, SampleRecord, Usage


def sample_record(
    sample: Sample, *, answer_type: AnswerType | None, choices: list[str] | None, window: int
) -> SampleRecord:
    """A sample as state: the parsed answer plus every confidence a vote weighting may use."""
    token_conf = token_confidences([t.top_logprobs for t in sample.tokens])  # (T,)
    return {
        "text": sample.text,
        "answer": extract_answer(sample.text, answer_type=answer_type, choices=choices),
        "confidence": sample.confidence,
        "probability": sample.probability,
        "tail_confidence": tail_confidence(token_conf, window),
        "bottom_window_confidence": bottom_percent_confidence(token_conf, window),
        "lowest_window_confidence": lowest_group_confidence(token_conf, window),
        "completion_tokens": sample.completion_tokens,
        "finish_reason": sample.finish_reason,
    }


class SampleNode:
    """Draws `sampling.n` responses to the question (image included) in one request.

    Writes `samples`, `modules_run` and `usage`. Unparseable responses are kept with `answer=None`.

    Example:
        >>> node = SampleNode(model, SamplingConfig(n=8))  # doctest: +SKIP
        >>> builder.add_node("sample", node)  # doctest: +SKIP
    """

    def __init__(
        self, model: VisionLanguageModel, config: SamplingConfig | None = None, vote: VoteConfig | None = None
    ):
        self.model = model
        self.config = config or SamplingConfig()
        self.vote = vote or VoteConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "sampling", self.config)
        window = stage_from_context(runtime.context, "vote", self.vote).window
        samples = await self.model.sample(question_messages(state), config.params())
        records = [
            sample_record(s, answer_type=state.get("answer_type"), choices=state.get("choices"), window=window)
            for s in samples
        ]
        usage: Usage = {
            "prompt_tokens": samples[0].prompt_tokens if samples else 0,
            "completion_tokens": sum(s.completion_tokens for s in samples),
            "model_calls": 1,
            "expert_calls": 0,
        }
        unparseable = sum(r["answer"] is None for r in records)
        emit({"event": "samples", "n": len(records), "unparseable": unparseable})
        return {"samples": records, "modules_run": ["self_consistency"], "usage": usage}
