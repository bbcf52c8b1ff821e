"""CDRL: confidence-driven GRPO on clean/noised pairs (METHOD.md section 3), on TRL's `GRPOTrainer`.

How it hooks into TRL (a subclass, one override): `CDRLTrainer._calculate_rewards` first teacher-forces every
rollout's own tokens through the *current policy* twice, on the clean image (C) and on the noised twin (C'), and
adds both to the rollout's columns (``clean_confidence``, ``noised_confidence``); then TRL's reward loop runs the
CDRL reward functions, which read them like any dataset column. So the rewards stay small picklable callables
(`trainers.cdrl_rewards`), TRL logs each component as ``rewards/<name>/mean``, and the trainer adds
``cdrl/clean_confidence`` and ``cdrl/confidence_drop`` (mean C - C').

Data: a `catts data pairs` folder (``pairs.jsonl`` + images). Models: any Qwen2.5-VL-style folder; LoRA through
`peft_config`, merged on export so vLLM serves the result directly.

Example:
    >>> config = CDRLConfig(output_dir="runs/cdrl", num_generations=4, max_steps=200)  # doctest: +SKIP
    >>> train_cdrl("catts_graph/models/shapes-base", "data/pairs", "models/shapes-cdrl", config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from trl import GRPOConfig, GRPOTrainer

from nodes.prompts import question_prompt
from trainers.cdrl_rewards import (
    Normalisation,
    accuracy_rewards,
    calibration_rewards,
    format_rewards,
    perception_rewards,
)


@dataclass
class CDRLConfig(GRPOConfig):
    """`GRPOConfig` plus the CDRL knobs (defaults: METHOD.md; alpha and beta are ours, the paper leaves them open)."""

    perception_alpha: float = field(default=0.5, metadata={"help": "scale of alpha * tanh(beta * (C - C'))"})
    perception_beta: float = field(default=1.0, metadata={"help": "slope inside the tanh of the perception reward"})
    confidence_normalisation: str = field(
        default="group", metadata={"help": "Cnorm of the calibration reward: 'group' min-max or 'sigmoid'"}
    )
    confidence_top_k: int = field(default=20, metadata={"help": "k of the NMLP confidence (top-k log-probs)"})
    mask_truncated_completions: bool = field(
        default=True,
        metadata={
            "help": "leave rollouts that hit max_completion_length out of the loss (TRL's default is False). On by "
            "default here: trailing filler tokens are confident ones, so without it the confidence rewards teach a "
            "small policy to pad to the length limit instead of ending (seen on ShapesVQA at lr 2e-4)"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.confidence_normalisation not in ("group", "sigmoid"):
            raise ValueError("confidence_normalisation must be 'group' or 'sigmoid'")
        if self.perception_alpha < 0 or self.perception_beta <= 0:
            raise ValueError("set perception_alpha >= 0 and perception_beta > 0")
        if self.confidence_top_k < 1:
            raise ValueError("confidence_top_k must be >= 1 (the paper uses 20)")
        if (self.num_generations or 0) < 2:
            raise ValueError("num_generations must be >= 2: the calibration reward normalises within a group")


def completion_texts(completions: list[Any]) -> list[str]:
    """TRL passes conversational completions as message lists; plain ones as strings."""
    return [c if isinstance(c, str) else "".join(str(m.get("content", "")) for m in c) for c in completions]


def accuracy_reward(completions: list[Any], answer: list[str], answer_type: list[Any], **_: Any) -> list[float]:
    return accuracy_rewards(completion_texts(completions), answer, answer_type)


def format_reward(completions: list[Any], **_: Any) -> list[float]:
    return format_rewards(completion_texts(completions))


@dataclass(frozen=True)
class PerceptionReward:
    alpha: float = 0.5
    beta: float = 1.0

    def __call__(self, clean_confidence: list[float], noised_confidence: list[float], **_: Any) -> list[float]:
        return perception_rewards(clean_confidence, noised_confidence, alpha=self.alpha, beta=self.beta)


@dataclass(frozen=True)
class CalibrationReward:
    """(2 R_acc - 1) Cnorm, Cnorm over each group of `group_size` consecutive rollouts (TRL keeps groups together)."""

    group_size: int
    how: Normalisation = "group"

    def __call__(
        self,
        completions: list[Any],
        answer: list[str],
        answer_type: list[Any],
        clean_confidence: list[float],
        **_: Any,
    ) -> list[float]:
        accuracy = accuracy_rewards(completion_texts(completions), answer, answer_type)
        out: list[float] = []
        for start in range(0, len(accuracy), self.group_size):
            group = slice(start, start + self.group_size)
            out.extend(calibration_rewards(accuracy[group], clean_confidence[group], self.how))
        return out


def cdrl_reward_funcs(config: CDRLConfig) -> list[Any]:
    """The four components, in the order TRL logs them."""
    how: Normalisation = "group" if config.confidence_normalisation == "group" else "sigmoid"
    return [
        accuracy_reward,
        format_reward,
        PerceptionReward(config.perception_alpha, config.perception_beta),
        CalibrationReward(int(config.num_generations or 2), how),
    ]


class CDRLTrainer(GRPOTrainer):  # type: ignore[misc]
    """`GRPOTrainer` that measures each rollout's confidence on the clean and the noised image before the rewards."""

    args: CDRLConfig

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
        clean, noised = self._confidences(inputs, completion_ids_list)
        for example, c, n in zip(inputs, clean, noised, strict=True):
            example["clean_confidence"], example["noised_confidence"] = c, n
        mode = "train" if self.model.training else "eval"
        finite = [(c, n) for c, n in zip(clean, noised, strict=True) if math.isfinite(c - n)]
        if finite:
            self._metrics[mode]["cdrl/clean_confidence"].append(sum(c for c, _ in finite) / len(finite))
            self._metrics[mode]["cdrl/confidence_drop"].append(sum(c - n for c, n in finite) / len(finite))
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    @torch.no_grad()
    def _confidences(self, inputs: list[dict[str, Any]], completion_ids_list: list[Any]) -> tuple[list[float], ...]:
        """NMLP confidence of each rollout's tokens under the current policy: on the clean, then the noised image."""
        processor = self.processing_class
        model = self.accelerator.unwrap_model(self.model)
        k = self.args.confidence_top_k
        clean, noised = [], []
        for example, completion_ids in zip(inputs, completion_ids_list, strict=True):
            text = processor.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=False)
            ids = torch.as_tensor(list(completion_ids), dtype=torch.long)  # (T,)
            for image, out in ((example["image"], clean), (example["noised_image"], noised)):
                if len(ids) == 0:
                    out.append(math.nan)
                    continue
                enc = processor(images=[image], text=[text], return_tensors="pt").to(model.device)
                n_prompt = enc["input_ids"].shape[1]
                input_ids = torch.cat([enc["input_ids"][0], ids.to(model.device)])[None]  # (1, P + T)
                logits = model(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    pixel_values=enc["pixel_values"],
                    image_grid_thw=enc["image_grid_thw"],
                ).logits[0, n_prompt - 1 : -1]  # (T, V): position t predicts completion token t
                top = torch.log_softmax(logits.float(), dim=-1).topk(k, dim=-1).values  # (T, k)
                out.append(float((-top.mean(dim=-1)).mean()))  # C = mean_t c_t, c_t = -mean_j log p_t(j)
        return clean, noised


def pairs_dataset(pairs_dir: str | Path) -> Any:
    """A `datasets.Dataset` from a `catts data pairs` folder: conversational prompt, both images, the answer."""
    from datasets import Dataset
    from datasets import Image as ImageFeature

    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]
    rows = [
        {
            "prompt": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image"},
                        {"type": "text", "text": question_prompt(r["question"], r.get("choices"))},
                    ],
                }
            ],
            "image": str(folder / r["image"]),
            "noised_image": str(folder / r["noised_image"]),
            "answer": r["answer"],
            "answer_type": r["answer_type"],
        }
        for r in records
    ]
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("image", ImageFeature()).cast_column("noised_image", ImageFeature())


def train_cdrl(
    model_dir: str | Path, pairs_dir: str | Path, out_dir: str | Path, config: CDRLConfig, *, peft_config: Any = None
) -> Path:
    """Run CDRL on `model_dir` with the pairs in `pairs_dir`; save a servable model (LoRA merged) to `out_dir`."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    trainer = CDRLTrainer(
        model=model,
        reward_funcs=cdrl_reward_funcs(config),
        args=config,
        train_dataset=pairs_dataset(pairs_dir),
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train()
    trained = trainer.model
    if hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()  # a plain model folder: vLLM serves it directly
    out = Path(out_dir)
    trained.save_pretrained(out)
    processor.save_pretrained(out)
    with (out / "cdrl_log.jsonl").open("w") as f:
        for row in trainer.state.log_history:
            f.write(json.dumps(row) + "\n")
    return out
