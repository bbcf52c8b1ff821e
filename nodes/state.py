"""The graph state the nodes read and write, with its reducers. Plain JSON-like values only, so every
checkpointer can store it and every trace can show it.

Input keys: `question`, `images` (file paths or data URLs), optional `choices` and `answer_type`.
Accumulating keys (`contributions`, `modules_run`, `routes`, `fallbacks`, `usage`) have reducers, so parallel
writers merge; the first node of a run resets them with `Overwrite`, so a new question on the same thread starts
clean.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from nodes.answers import AnswerType
from nodes.steps import StepRecord


class SampleRecord(TypedDict):
    """One sampled response: its text, parsed answer and every confidence the vote weightings use."""

    text: str
    answer: str | None  # None: no parseable answer (kept, counted, does not vote)
    confidence: float  # NMLP mean over tokens (higher = more confident)
    probability: float  # exp(mean log-prob), in [0, 1]
    answer_probability: float  # P(final answer | the rationale before it), in [0, 1]; NaN without an answer
    tail_confidence: float
    bottom_window_confidence: float
    lowest_window_confidence: float
    completion_tokens: int
    finish_reason: str | None
    steps: list[StepRecord]  # the response's reasoning steps and each one's confidence (nodes.steps)
    weakest_step: float  # the lowest step confidence, in [0, 1]; NaN without steps
    stated_confidence: float  # the confidence it declares for its answer, in [0, 1] (nodes.stated); NaN: none
    stated_from: str  # where that statement came from: "written" by the sample, "elicited" after it, "" (none)


class VoteContribution(TypedDict):
    """What one module added to the vote table V."""

    module: str  # self_consistency | voter | critic | self_check
    votes: dict[str, float]


class RouteRecord(TypedDict):
    """A routing decision: where the graph went after a stage, and why."""

    after: str
    next: str
    skipped: list[str]
    reason: str


class Usage(TypedDict):
    """Cost counters, summed over the run."""

    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    expert_calls: int


def empty_usage() -> Usage:
    return {"prompt_tokens": 0, "completion_tokens": 0, "model_calls": 0, "expert_calls": 0}


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer: field-wise sum of two usage records."""
    out = empty_usage()
    for part in (left, right):
        for key, value in (part or {}).items():
            out[key] += value  # type: ignore[literal-required]
    return out


class CATTSInput(TypedDict, total=False):
    """What a caller passes in."""

    question: str
    images: list[str]
    choices: list[str] | None
    answer_type: AnswerType | None


def graph_input(
    question: str,
    images: Sequence[str],
    *,
    choices: Sequence[str] | None = None,
    answer_type: AnswerType | None = None,
) -> CATTSInput:
    """A run's input: the question, its images (file paths or data URLs), its options and answer type if any."""
    options = None if choices is None else list(choices)
    return {"question": question, "images": list(images), "choices": options, "answer_type": answer_type}


class ExpertAnswer(TypedDict):
    """The expert's own reply to the plain question and the answer read from it (None: none could be read)."""

    text: str
    answer: str | None


class CATTSState(TypedDict, total=False):
    """The whole run: inputs, samples, every module's record, the vote table's parts, routes and cost."""

    question: str
    images: list[str]
    choices: list[str] | None
    answer_type: AnswerType | None
    samples: list[SampleRecord]
    expert_answer: ExpertAnswer | None  # asked by the sequential stopping rule; the answer-form Voter reuses it
    plan: list[str]
    critique: dict[str, Any] | None
    self_check: dict[str, Any] | None
    contributions: Annotated[list[VoteContribution], operator.add]
    modules_run: Annotated[list[str], operator.add]
    routes: Annotated[list[RouteRecord], operator.add]
    fallbacks: Annotated[list[str], operator.add]
    usage: Annotated[Usage, add_usage]
    next_module: str
    settings: dict[str, Any]  # the settings this run used: the graph's config with the run's context applied
    answer: str | None
    confidence: float
    votes: dict[str, float]


class CATTSOutput(TypedDict, total=False):
    """What a caller gets back (the full state stays inspectable through streaming and checkpoints)."""

    answer: str | None
    confidence: float
    votes: dict[str, float]
    contributions: list[VoteContribution]  # what each module added to `votes` (e.g. to re-weight them offline)
    modules_run: list[str]
    routes: list[RouteRecord]
    fallbacks: list[str]
    usage: Usage
    samples: list[SampleRecord]
    expert_answer: ExpertAnswer | None  # the expert's own answer, when the sequential stopping rule asked for it
    critique: dict[str, Any] | None
    self_check: dict[str, Any] | None
    settings: dict[str, Any]  # the settings this run used (a `CATTSConfig` as JSON)
