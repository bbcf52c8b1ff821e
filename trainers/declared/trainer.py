"""CDRL on a declared answer confidence (docs/method.md section 9.5): an SFT warm-up teaches the model to state how
sure it is of its answer (`nodes.stated`; levels from its own fitted score, `trainers.declared.warmup`), then GRPO
rewards right answers, statements that match the answer's correctness, and statements on a noised twin that fall
below the clean one (`trainers.declared.rewards`).

Rollouts come from both views of every pair (``noised_views``): the clean image and its twin with the evidence
destroyed. `DeclaredTrainer` hooks in as `trainers.boundary.trainer.BoundaryTrainer` does: before the rewards it
teacher-forces each noised rollout's response on the clean image and reads the confidence the policy expects to
declare there (the mean of the statement digit's distribution, `expected_declared`), the C of the perception
reward. GRPO runs on the CDRL trainer's code path (`train_grpo`); the NMLP path (`train_cdrl`) is untouched.

Example:
    >>> config = DeclaredCDRLConfig(output_dir="runs/d", num_generations=8, sft_steps=200)  # doctest: +SKIP
    >>> train_declared("catts_graph/shapes/models/shapes-base", "data/pairs", "models/d", config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.confidence import finite_mean
from nodes.prompts import question_prompt
from nodes.stated import ANSWER_DIGITS, digit_expectation, stated_answer_confidence, statement_position
from trainers.cdrl.rewards import completion_texts
from trainers.cdrl.scoring import forced_log_probs
from trainers.cdrl.trainer import CDRLTrainer, train_grpo
from trainers.declared.config import DeclaredCDRLConfig
from trainers.declared.labels import LABEL_FIT_FILE, read_rows
from trainers.declared.rewards import (
    declared_accuracy_rewards,
    declared_calibration_rewards,
    declared_perception_rewards,
)
from trainers.declared.warmup import declared_examples, labelled_examples
from trainers.sft import SFTExample, warm_up

SCORE_FILE = "answer_score.json"  # the start model's fitted score that set the warm-up's levels


def views_dataset(pairs_dir: str | Path, *, noised: bool = True) -> Any:
    """A `datasets.Dataset` of a `catts data pairs` folder's rows, one per pair and view: the prompt, ``image`` (the
    view's), ``twin_image`` (the other view's), ``view`` (``clean`` or ``noised``), the answer, its type and
    choices, and ``id``; with `noised` False, the clean view only."""
    from datasets import Dataset
    from datasets import Image as ImageFeature

    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]
    rows = []
    for index, r in enumerate(records):
        text = {"type": "text", "text": question_prompt(r["question"], r.get("choices"))}
        prompt = [{"role": "user", "content": [{"type": "image"}, text]}]
        clean, twin = str(folder / r["image"]), str(folder / r["noised_image"])
        truth = {"answer": r["answer"], "answer_type": r["answer_type"], "choices": r.get("choices")}
        common = {"prompt": prompt, **truth}
        key = str(r.get("id", index))
        rows.append({**common, "image": clean, "twin_image": twin, "view": "clean", "id": key})
        if noised:
            rows.append({**common, "image": twin, "twin_image": clean, "view": "noised", "id": f"{key}:noised"})
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("image", ImageFeature()).cast_column("twin_image", ImageFeature())


def expected_declared(log_probs: torch.Tensor, digit_ids: Sequence[int]) -> float:
    """The mean declared confidence of one statement position's log-probs (V,), renormalised over the digits
    (`nodes.stated.digit_expectation`, the graph's reading)."""
    return digit_expectation(zip(ANSWER_DIGITS, log_probs[list(digit_ids)].tolist(), strict=True))


class DeclaredTrainer(CDRLTrainer):
    """`CDRLTrainer` that adds ``clean_declared`` to every rollout before the rewards: the confidence the policy
    expects to declare for the same response on the clean image (NaN for clean rollouts and undeclared ones)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tokenizer = self.processing_class.tokenizer
        ids = [tokenizer.encode(d, add_special_tokens=False) for d in ANSWER_DIGITS]
        if any(len(i) != 1 for i in ids):
            raise ValueError("the tokenizer spells a digit in several tokens: the declared statement is unreadable")
        self.digit_ids = [i[0] for i in ids]

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
        tokenizer = self.processing_class.tokenizer
        drops, declared = [], []
        with torch.no_grad():  # the rewards read the expected statement as a number: no gradient
            model = self.accelerator.unwrap_model(self.model)
            for example, completion_ids in zip(inputs, completion_ids_list, strict=True):
                ids = list(completion_ids)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                own = stated_answer_confidence(text)
                declared.append(own)
                example["clean_declared"] = math.nan
                position = statement_position([tokenizer.decode([i]) for i in ids]) if ids else None
                if example["view"] != "noised" or position is None:
                    continue
                enc = self._encode(example, example["twin_image"]).to(model.device)  # the clean image
                row = torch.as_tensor(ids[: position + 1], dtype=torch.long, device=model.device)[None]  # (1, t+1)
                log_probs = forced_log_probs(
                    model, enc["input_ids"], enc["attention_mask"], row, torch.ones_like(row), enc
                )[0]  # (t+1, V)
                example["clean_declared"] = expected_declared(log_probs[position], self.digit_ids)
                drops.append(example["clean_declared"] - own)
        mode = "train" if self.model.training else "eval"
        share = sum(math.isfinite(d) for d in declared) / max(1, len(declared))
        self._metrics[mode]["declared/declares"].append(share)
        if any(math.isfinite(d) for d in declared):
            self._metrics[mode]["declared/confidence"].append(finite_mean(declared))
        if drops:
            self._metrics[mode]["declared/noised_drop"].append(finite_mean(drops))
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)


def declared_accuracy(
    completions: list[Any],
    answer: list[str],
    answer_type: list[Any],
    view: list[str],
    choices: list[Any] | None = None,
    **_: Any,
) -> list[float]:
    return declared_accuracy_rewards(completion_texts(completions), answer, answer_type, view, choices)


@dataclass(frozen=True)
class DeclaredCalibration:
    weight: float = 1.0

    def __call__(self, completions: list[Any], answer: list[str], answer_type: list[Any],
                 choices: list[Any] | None = None, **_: Any) -> list[float]:  # fmt: skip
        rewards = declared_calibration_rewards(completion_texts(completions), answer, answer_type, choices)
        return [self.weight * r for r in rewards]


@dataclass(frozen=True)
class DeclaredPerception:
    alpha: float = 0.5
    beta: float = 1.0

    def __call__(self, completions: list[Any], view: list[str], clean_declared: list[float], **_: Any) -> list[float]:
        texts = completion_texts(completions)
        return declared_perception_rewards(texts, view, clean_declared, alpha=self.alpha, beta=self.beta)


def declared_reward_funcs(config: DeclaredCDRLConfig) -> list[Any]:
    """Accuracy, calibration and perception on the declared confidence, as TRL reward callables (summed)."""
    return [
        declared_accuracy,
        DeclaredCalibration(config.calibration_weight),
        DeclaredPerception(config.perception_alpha, config.perception_beta),
    ]


def declared_dev_reads(text: str, example: dict[str, Any]) -> dict[str, float]:
    """A dev row's greedy response: whether it declares, what (0.5 when not) and 1 - its Brier score."""
    declared = stated_answer_confidence(text)
    truth = [example["answer"]], [example["answer_type"]], [example["choices"]]
    return {
        "declares": float(math.isfinite(declared)),
        "declared": declared if math.isfinite(declared) else 0.5,
        "declared_calibration": declared_calibration_rewards([text], *truth)[0],
    }


def _stream(examples: list[SFTExample]) -> Any:
    def stream(rng: random.Random) -> Iterator[SFTExample]:
        while True:
            yield from rng.sample(examples, len(examples))

    return stream


def train_declared(
    model_dir: str | Path,
    pairs_dir: str | Path,
    out_dir: str | Path,
    config: DeclaredCDRLConfig,
    *,
    dev_dir: str | Path | None = None,
    labels: str | Path | None = None,
    grpo: bool = True,
) -> Path:
    """The warm-up (``config.sft_steps`` on the start model's greedy responses with their fitted score declared,
    into ``OUT-sft`` with ``declared_targets.jsonl`` and the fit, ``answer_score.json``; with `labels`, a `catts data
    labels` file, on both views of each pair with their labels, the fit copied from beside it), then GRPO into
    `out_dir` (log ``declared_log.jsonl``); returns `out_dir`, or with `grpo` False the warm-up's folder."""
    start = Path(model_dir)
    if config.sft_steps > 0:
        if labels is None:
            examples, fit = declared_examples(
                model_dir,
                pairs_dir,
                config.sft_items,
                config.max_completion_length,
                config.confidence_top_k,
                statement_only=config.sft_statement_only,
            )
            fit_json = fit.to_json()
        else:
            examples = labelled_examples(
                read_rows(labels), pairs_dir, config.sft_items, statement_only=config.sft_statement_only
            )
            fit_json = (Path(labels).parent / LABEL_FIT_FILE).read_text()
        start = warm_up(
            model_dir,
            _stream(examples),
            out_dir,
            steps=config.sft_steps,
            batch_size=max(config.per_device_train_batch_size, 8),
            learning_rate=config.sft_learning_rate,
            seed=config.seed,
            frozen=config.sft_frozen,
            anchor=config.sft_anchor if config.sft_statement_only else 0.0,
        )
        targets = "".join(
            json.dumps({"prompt": e.messages[0].text, "target": e.answer, "loss_from": e.loss_from}) + "\n"
            for e in examples
        )
        (start / "declared_targets.jsonl").write_text(targets)  # what the warm-up taught, to inspect
        (start / SCORE_FILE).write_text(fit_json)
    if not grpo:
        return start
    dev = None if dev_dir is None else views_dataset(dev_dir, noised=False)
    if dev is not None:
        dev = dev.rename_column("twin_image", "noised_image")  # the CDRL dev rows read the twin under this name
    return train_grpo(
        start,
        views_dataset(pairs_dir, noised=config.noised_views),
        out_dir,
        config,
        declared_reward_funcs(config),
        dev_dataset=dev,
        dev_reads=declared_dev_reads,
        log_name="declared_log.jsonl",
        trainer_class=DeclaredTrainer,
    )
