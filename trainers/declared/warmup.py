"""The declared-confidence warm-up's targets: the start model's greedy response to each pair with the level of its
own fitted answer score stated after it (docs/method.md section 9.5).

The score (ours) is a logistic regression of the greedy answer's correctness on what the model's own log-probs
say about that response (`SIGNALS`: exp mean log-prob, the answer span's probability given the rationale, and the
NMLP scaled to about [0, 1]), fitted on the same greedy responses, so every statement starts as a calibrated
estimate of the model's own accuracy; the warm-up teaches the format and that estimate, GRPO then improves it.
With a labels file (`catts data labels`, `trainers.declared.label_fit`) the warm-up instead teaches both views of
every pair, each greedy response with its label (`labelled_examples`). With `statement_only` the loss covers the
statement alone (`statement_example`): the response is the start model's own, kept as context, so the warm-up
teaches what to state without moving what the model answers.

Example:
    >>> fit = fit_answer_score([[0.9, 0.9, 0.8], [0.3, 0.2, 0.4]] * 4, [True, False] * 4)
    >>> fit.score([0.9, 0.9, 0.8]) > 0.5 > fit.score([0.3, 0.2, 0.4])
    True
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from catts_graph.evaluation.logistic import logistic_fit
from nodes.images import load_image
from nodes.prompts import question_prompt
from nodes.protocol import Message, Sample, SamplingParams
from nodes.stated import strip_statements, with_answer_statement
from trainers.cdrl.rewards import is_correct
from trainers.sft import SFTExample

SIGNALS = ("probability", "answer_probability", "nmlp")
NMLP_SCALE = 10.0  # NMLP of top-20 log-probs sits in about [0, 10]: scaled to the other signals' range
L2 = 1e-2
NEWTON_STEPS = 50


def signals(sample: Sample) -> list[float]:
    """A response's `SIGNALS` (a missing one counts 0.5)."""
    values = [sample.probability, sample.answer_probability, sample.confidence / NMLP_SCALE]
    return [v if math.isfinite(v) else 0.5 for v in values]


@dataclass(frozen=True)
class AnswerScore:
    """sigmoid(bias + weights . signals): the start model's fitted probability that its answer is right."""

    weights: tuple[float, ...]
    bias: float

    def score(self, values: Sequence[float]) -> float:
        z = self.bias + sum(w * v for w, v in zip(self.weights, values, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> str:
        return json.dumps({"signals": SIGNALS, "weights": self.weights, "bias": self.bias}, indent=2) + "\n"


def fit_answer_score(rows: Sequence[Sequence[float]], correct: Sequence[bool]) -> AnswerScore:
    """Logistic regression of `correct` on `rows` (Newton steps, a small L2 penalty off the bias); a constant
    score (the accuracy) when all answers are right or all wrong."""
    y = np.array([float(c) for c in correct])  # (S,)
    if len(set(correct)) < 2:
        rate = min(max(float(y.mean()) if len(y) else 0.5, 1e-3), 1 - 1e-3)
        return AnswerScore((0.0,) * len(SIGNALS), math.log(rate / (1 - rate)))
    theta = logistic_fit(np.asarray(rows, dtype=np.float64), y, l2=L2, max_steps=NEWTON_STEPS)  # (K+1,) bias first
    return AnswerScore(tuple(float(w) for w in theta[1:]), float(theta[0]))


def greedy_answers(
    model_dir: str | Path, pairs_dir: str | Path, limit: int, max_tokens: int, top_k: int
) -> list[tuple[dict[str, Any], Sample, bool]]:
    """The model's greedy response to each of the first `limit` pairs (clean image) and whether it is right."""
    from catts_graph.serving.engine import TransformersEngine  # the in-process model: greedy text plus top-k

    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]
    engine = TransformersEngine(model_dir)
    params = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens, top_logprobs=top_k)
    out = []
    for r in tqdm(records[:limit], desc=f"greedy answers of {Path(model_dir).name}", unit="pair"):
        messages = [Message.user(question_prompt(r["question"], r.get("choices")), [str(folder / r["image"])])]
        sample = asyncio.run(engine.sample(messages, params))[0]
        right = is_correct(sample.text, r["answer"], r.get("answer_type"), r.get("choices"))
        out.append((r, sample, right))
    return out


def statement_example(
    record: dict[str, Any], pairs_dir: str | Path, response: str, score: float, *, statement_only: bool = False
) -> SFTExample:
    """One warm-up example: the record's image and question, `response` with `score`'s level declared after it;
    with `statement_only` the loss starts where the statement does (the response is context only)."""
    response = response.rstrip()
    target = with_answer_statement(response, score)
    image = load_image(str(Path(pairs_dir) / record["image"]))
    prompt = [Message.user(question_prompt(record["question"], record.get("choices")))]
    return SFTExample([image], prompt, target, loss_from=len(response) if statement_only and response else 0)


def declared_examples(
    model_dir: str | Path,
    pairs_dir: str | Path,
    limit: int,
    max_tokens: int,
    top_k: int,
    *,
    statement_only: bool = False,
) -> tuple[list[SFTExample], AnswerScore]:
    """The warm-up's examples (each greedy response with the level of its fitted score declared) and the fit."""
    answers = greedy_answers(model_dir, pairs_dir, limit, max_tokens, top_k)
    fit = fit_answer_score([signals(s) for _, s, _ in answers], [right for _, _, right in answers])
    examples = [
        statement_example(r, pairs_dir, sample.text, fit.score(signals(sample)), statement_only=statement_only)
        for r, sample, _ in answers
    ]
    return examples, fit


def labelled_examples(
    rows: Sequence[dict[str, Any]], pairs_dir: str | Path, limit: int, *, statement_only: bool = False
) -> list[SFTExample]:
    """The warm-up's examples from a labels file's rows (`catts data labels`: both views of each pair, each greedy
    response with its `label` declared), of the first `limit` pairs."""
    pairs: set[str] = set()
    examples = []
    for r in rows:
        if r["id"] not in pairs and len(pairs) >= limit:
            continue
        pairs.add(r["id"])
        response = strip_statements(r["greedy"])
        examples.append(statement_example(r, pairs_dir, response, r["label"], statement_only=statement_only))
    return examples
