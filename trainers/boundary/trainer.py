"""MMBoundary's training: the model learns to state a confidence for each reasoning step (SFT), then GRPO rewards
right steps, stated confidence that matches each step's truth, and stated confidence that matches the internal score.

The internal score of a step is `nodes.steps`' combination of its likelihood, top-k certainty and chain under a
model (**ours:** no visual signal in training; the paper adds CLIP), fitted as `catts calibrate --steps` fits it on
that model's own greedy steps judged against the pairs' reference steps (**ours**): the start model's fit sets the
warm-up's stated levels, so each starts as a calibrated estimate, and the warm-up model's own fit (on the dev pairs
when given) scores GRPO's rollouts, saved as ``step_weights.json`` with it (a fit does not carry over from one
model to another). The warm-up trains on the model's own greedy responses with a statement of each step's internal
score (`nodes.stated`): by default all of them after the answer (**ours**: the reasoning keeps the form it had), or
inline after each step as in the paper; the loss covers the whole target, since a loss on the statements alone lets
the reasoning drift, and the vision tower stays as loaded (``sft_frozen``: the warm-up teaches stating, not
perceiving). GRPO runs on the CDRL trainer's code path (`train_grpo`) with `BoundaryTrainer`, which scores every
rollout's steps under the current policy before the rewards read them. The paper trains with PPO; this is GRPO (the
project's one RL path).

Example:
    >>> config = BoundaryGRPOConfig(output_dir="runs/b", num_generations=8, sft_steps=300)  # doctest: +SKIP
    >>> train_boundary("catts_graph/shapes/models/shapes-base", "data/pairs", "models/b", config)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from tqdm import tqdm

from catts_graph.evaluation.step_calibration import fit_steps
from catts_graph.evaluation.steps import step_truth
from nodes.answers import extract_answer, normalize_answer
from nodes.errors import InvalidInputError
from nodes.images import load_image
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams
from nodes.stated import Placement, with_statements
from nodes.steps import SIGNALS, Splitter, combine, split_steps, step_records
from trainers.boundary.config import BoundaryGRPOConfig
from trainers.boundary.rewards import (
    internal_agreement_rewards,
    stated_calibration_rewards,
    step_correctness_rewards,
)
from trainers.cdrl.data import pairs_dataset
from trainers.cdrl.rewards import completion_texts
from trainers.cdrl.scoring import forced_log_probs
from trainers.cdrl.trainer import CDRLTrainer, train_grpo
from trainers.sft import SFTExample, warm_up

INTERNAL_WEIGHTS = {"likelihood": 1.0, "certainty": 1.0, "chain": 1.0}  # before a fit; no visual signal (ours)
STEP_WEIGHTS = "step_weights.json"  # the fitted internal combination, beside the model it was fitted for
DEV_FIT_ITEMS = 400  # dev pairs the warm-up model's internal combination is fitted on


@dataclass(frozen=True)
class InternalCombination:
    """How a step's signals combine into its internal score: `nodes.steps.combine`'s weights and bias."""

    weights: dict[str, float]
    bias: float | None = None

    @classmethod
    def load(cls, path: str | Path) -> InternalCombination:
        """A step-weights file (``{"splitter", "weights", "bias"}``, as `catts calibrate --steps` writes)."""
        data = json.loads(Path(path).read_text())
        return cls({name: float(w) for name, w in data["weights"].items()}, float(data["bias"]))


def internal_scores(
    tokens: Sequence[str],
    logprobs: Sequence[float],
    top_logprobs: Sequence[Sequence[float]],
    splitter: Splitter,
    combination: InternalCombination = InternalCombination(INTERNAL_WEIGHTS),
) -> list[float]:
    """Each step's internal score of a response given token by token."""
    steps = split_steps("".join(tokens), splitter)
    records = step_records(tokens, logprobs, top_logprobs, steps, weights=combination.weights, bias=combination.bias)
    return [r["confidence"] for r in records]


def greedy_steps(
    model_dir: str | Path, pairs_dir: str | Path, limit: int, config: BoundaryGRPOConfig
) -> tuple[list[tuple[dict[str, Any], Message, str, list[Any], list[Any]]], list[list[Any]]]:
    """The model's greedy response to each of the first `limit` pairs, as ``(pair, message, text, steps, step
    signals)``, and the step rows (`fit_steps`' form) judged against the pairs' reference steps."""
    from catts_graph.serving.engine import TransformersEngine  # the in-process model: greedy text plus top-k

    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]
    engine = TransformersEngine(model_dir)
    params = SamplingParams(
        n=1, temperature=0.0, max_tokens=config.max_completion_length, top_logprobs=config.confidence_top_k
    )
    splitter = cast(Splitter, config.step_splitter)
    responses, rows = [], []
    for r in tqdm(records[:limit], desc=f"greedy responses of {Path(model_dir).name}", unit="pair"):
        messages = [Message.user(question_prompt(r["question"], r.get("choices")), [str(folder / r["image"])])]
        sample = asyncio.run(engine.sample(messages, params))[0]
        steps = split_steps(sample.text, splitter)
        signals = step_records(
            [t.token for t in sample.tokens],
            [t.logprob for t in sample.tokens],
            [t.top_logprobs for t in sample.tokens],
            steps,
            weights=INTERNAL_WEIGHTS,
        )
        predicted = extract_answer(sample.text, answer_type=r.get("answer_type"))
        right = predicted is not None and predicted == normalize_answer(r["answer"], r.get("answer_type"))
        truth = step_truth([s.text for s in steps], [s.answer for s in steps], r.get("steps"), right)
        rows += [[s["answer"], *(s[name] for name in SIGNALS), s["confidence"], math.nan, known]  # type: ignore[literal-required]
                 for s, known in zip(signals, truth, strict=True)]  # fmt: skip
        responses.append((r, messages[0], sample.text, steps, signals))
    return responses, rows


def fitted_combination(rows: Sequence[Sequence[Any]]) -> InternalCombination:
    """The internal combination fitted on step rows; the equal-weight mean where no steps were judged (no reference
    steps) or all were right (or wrong)."""
    try:
        fit = fit_steps(rows)
    except InvalidInputError:
        return InternalCombination(INTERNAL_WEIGHTS)
    return InternalCombination(fit.weights, fit.bias)


def stated_examples(
    model_dir: str | Path, pairs_dir: str | Path, config: BoundaryGRPOConfig
) -> tuple[list[SFTExample], InternalCombination]:
    """The warm-up's examples, the model's greedy response to each of the first `config.sft_items` pairs with the
    level of each step's internal score stated, and the internal combination fitted on those steps."""
    responses, rows = greedy_steps(model_dir, pairs_dir, config.sft_items, config)
    combination = fitted_combination(rows)
    placement = cast(Placement, config.statement_placement)
    examples = []
    for r, message, text, steps, signals in responses:
        scores = [combine({n: s[n] for n in SIGNALS}, combination.weights, combination.bias) for s in signals]
        target = with_statements(text, steps, scores, placement=placement)
        image = load_image(str(Path(pairs_dir) / r["image"]))
        examples.append(SFTExample([image], [Message.user(message.text)], target))
    return examples, combination


def save_combination(combination: InternalCombination, splitter: str, path: Path) -> None:
    """`combination` as a step-weights file (the form `catts calibrate --steps` writes and `--step-weights` reads);
    nothing for the unfitted equal-weight mean."""
    if combination.bias is None:
        return
    weights = {"splitter": splitter, "weights": combination.weights, "bias": combination.bias}
    path.write_text(json.dumps(weights, indent=2) + "\n")


def _stream(examples: list[SFTExample]) -> Any:
    def stream(rng: random.Random) -> Iterator[SFTExample]:
        while True:
            yield from rng.sample(examples, len(examples))

    return stream


class BoundaryTrainer(CDRLTrainer):
    """`CDRLTrainer` that scores every rollout's steps under the current policy (``internal_step_scores``) first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        path = self.args.internal_weights
        self.combination = InternalCombination(INTERNAL_WEIGHTS) if path is None else InternalCombination.load(path)

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
        splitter = cast(Splitter, self.args.step_splitter)
        tokenizer = self.processing_class.tokenizer
        with torch.no_grad():  # the rewards read the internal scores as numbers: no gradient
            model = self.accelerator.unwrap_model(self.model)
            for example, completion_ids in zip(inputs, completion_ids_list, strict=True):
                ids = list(completion_ids)
                if not ids:
                    example["internal_step_scores"] = []
                    continue
                enc = self._encode(example, example["image"]).to(model.device)
                row = torch.as_tensor(ids, dtype=torch.long, device=model.device)[None]  # (1, T)
                log_probs = forced_log_probs(
                    model, enc["input_ids"], enc["attention_mask"], row, torch.ones_like(row), enc
                )[0]  # (T, V)
                chosen = log_probs[torch.arange(len(ids)), row[0]]  # (T,)
                top = log_probs.topk(self.args.confidence_top_k, dim=-1).values  # (T, k)
                tokens = [tokenizer.decode([i]) for i in ids]
                example["internal_step_scores"] = internal_scores(
                    tokens, chosen.tolist(), top.tolist(), splitter, self.combination
                )
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)


@dataclass(frozen=True)
class StepCorrectnessReward:
    splitter: Splitter

    def __call__(self, completions: list[Any], steps: list[Any], answer: list[str], answer_type: list[Any],
                 **_: Any) -> list[float]:  # fmt: skip
        return step_correctness_rewards(completion_texts(completions), steps, answer, answer_type, self.splitter)


@dataclass(frozen=True)
class StatedCalibrationReward:
    splitter: Splitter

    def __call__(self, completions: list[Any], steps: list[Any], answer: list[str], answer_type: list[Any],
                 **_: Any) -> list[float]:  # fmt: skip
        return stated_calibration_rewards(completion_texts(completions), steps, answer, answer_type, self.splitter)


@dataclass(frozen=True)
class InternalAgreementReward:
    splitter: Splitter

    def __call__(self, completions: list[Any], internal_step_scores: list[list[float]], **_: Any) -> list[float]:
        return internal_agreement_rewards(completion_texts(completions), internal_step_scores, self.splitter)


def boundary_reward_funcs(splitter: Splitter) -> list[Any]:
    """The three MMBoundary rewards as TRL reward callables, summed with equal weight."""
    return [StepCorrectnessReward(splitter), StatedCalibrationReward(splitter), InternalAgreementReward(splitter)]


@dataclass(frozen=True)
class BoundaryDevReads:
    """A dev row's steps: the share of its greedy response's steps that are right, and 1 - their stated Brier."""

    splitter: Splitter

    def __call__(self, text: str, example: dict[str, Any]) -> dict[str, float]:
        truth = [example.get("steps")], [example["answer"]], [example["answer_type"]]
        return {
            "step_correctness": step_correctness_rewards([text], *truth, self.splitter)[0],
            "stated_calibration": stated_calibration_rewards([text], *truth, self.splitter)[0],
        }


def train_boundary(
    model_dir: str | Path,
    pairs_dir: str | Path,
    out_dir: str | Path,
    config: BoundaryGRPOConfig,
    *,
    dev_dir: str | Path | None = None,
) -> Path:
    """The warm-up (``config.sft_steps`` on stated greedy responses, kept in ``OUT-sft/stated_targets.jsonl`` with
    the start model's fit that set their levels, ``targets_step_weights.json``) into ``OUT-sft`` with its own fit
    (``step_weights.json``, on `dev_dir`'s pairs when given), then GRPO into `out_dir` (log ``boundary_log.jsonl``;
    the internal scores: ``config.internal_weights``, else the start model's ``step_weights.json``, else the
    equal-weight mean); returns `out_dir`."""
    splitter = cast(Splitter, config.step_splitter)  # checked by the config
    train = pairs_dataset(pairs_dir, steps=True)
    start = Path(model_dir)
    if config.sft_steps > 0:
        examples, combination = stated_examples(model_dir, pairs_dir, config)
        start = warm_up(
            model_dir,
            _stream(examples),
            out_dir,
            steps=config.sft_steps,
            batch_size=max(config.per_device_train_batch_size, 8),
            learning_rate=config.sft_learning_rate,
            seed=config.seed,
            frozen=config.sft_frozen,
        )
        targets = "".join(json.dumps({"prompt": e.messages[0].text, "target": e.answer}) + "\n" for e in examples)
        (start / "stated_targets.jsonl").write_text(targets)  # what the warm-up taught, to inspect
        save_combination(combination, splitter, start / "targets_step_weights.json")  # the start model's fit
        refit_on = (dev_dir, DEV_FIT_ITEMS) if dev_dir is not None else (pairs_dir, config.sft_items)
        _, rows = greedy_steps(start, *refit_on, config)  # the warm-up model's own signals, for GRPO's scores
        save_combination(fitted_combination(rows), splitter, start / STEP_WEIGHTS)
    if config.internal_weights is None and (start / STEP_WEIGHTS).is_file():
        config.internal_weights = str(start / STEP_WEIGHTS)
    dev = None if dev_dir is None else pairs_dataset(dev_dir, steps=True)
    return train_grpo(
        start,
        train,
        out_dir,
        config,
        boundary_reward_funcs(splitter),
        dev_dataset=dev,
        dev_reads=BoundaryDevReads(splitter),
        log_name="boundary_log.jsonl",
        trainer_class=BoundaryTrainer,
    )
