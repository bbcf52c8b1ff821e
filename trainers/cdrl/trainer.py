"""CDRL: confidence-driven GRPO on clean/noised pairs (docs/method.md section 3), on TRL's `GRPOTrainer`.

How it hooks into TRL (a subclass, one override): `CDRLTrainer._calculate_rewards` first teacher-forces every
rollout's own tokens through the *current policy* twice, on the clean image (C) and on the noised twin (C'), and
adds both to the rollout's columns (``clean_confidence``, ``noised_confidence``); then TRL's reward loop runs the
CDRL reward functions, which read them like any dataset column. So the rewards stay small picklable callables
(`trainers.cdrl.rewards`), TRL logs each component as ``rewards/<name>/mean``, and the trainer adds
``cdrl/clean_confidence`` and ``cdrl/confidence_drop`` (mean C - C').

The perception reward reaches the policy only through the clean rollouts' advantages, so C' can fall only by
generalisation; on the small ShapesVQA model that form never moved it (docs/experiments/cdrl-rounds.md, first round).
`perception_loss_weight` (ours; 0 = the paper's form) adds the same term's pathwise gradient,
``- w * mean_j tanh(beta * (C_j - C'_j))`` with C and C' recomputed *with* gradient on both images, so the policy
learns directly to be surer of its own words when it sees the evidence than when the evidence is destroyed. (Through
C' alone the easiest way down is to flatten every prediction: the small model's clean confidence and accuracy
collapsed, with or without the gradient through C on right rollouts only; docs/experiments/cdrl-rounds.md, second
round.)
`calibration_loss_weight` (ours; 0 = off) adds ``w * mean_j (exp(mean log-prob_j) - R_acc_j)^2``, the Brier score
of the probability confidence that ECE and AUROC read, with gradient: wrong rollouts' probability goes down and
right ones' up, the pathwise form of the paper's calibration term.
Two lab levers (ours; 0 = off), `greedy_calibration_loss_weight` and `greedy_perception_loss_weight`, read the
current policy's *greedy* response to each prompt of the step; they and `CDRLTrainer.evaluate` (greedy answers on a
dev set) live in `trainers.cdrl.greedy`.

Many processes (accelerate, DeepSpeed ZeRO-3): TRL spreads one prompt's G rollouts over processes, so C is gathered
before Cnorm sees the whole group, and the logged means are over the whole batch; the dev set is split between the
processes and their rows gathered; every process runs the same forward passes (an empty or fully masked completion
is scored as padding, never skipped: under ZeRO-3 a skipped forward stalls the others); the main process exports.

Data: a `catts data pairs` folder (``pairs.jsonl`` + images). Models: any Qwen2.5-VL-style folder; LoRA through
`peft_config`, merged on export so vLLM serves the result directly.

Example:
    >>> config = CDRLConfig(output_dir="runs/cdrl", num_generations=4, max_steps=200)  # doctest: +SKIP
    >>> train_cdrl("catts_graph/shapes/models/shapes-base", "data/pairs", "models/cdrl", config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from nodes.confidence import finite_mean
from trainers.cdrl.config import CDRLConfig
from trainers.cdrl.data import pairs_dataset
from trainers.cdrl.greedy import GreedyReads
from trainers.cdrl.rewards import (
    CalibrationReward,
    PerceptionReward,
    accuracy_rewards,
    cdrl_reward_funcs,
    group_members,
)
from trainers.cdrl.scoring import forced_log_probs, mean_token_log_prob, nmlp

DevReads = Callable[[str, dict[str, Any]], dict[str, float]]
"""(greedy response text, dev row) -> more dev metrics for that row, averaged over the dev set."""


class CDRLTrainer(GreedyReads, GRPOTrainer):  # type: ignore[misc]  # TRL is untyped here (Any): its trainer is the hook
    """`GRPOTrainer` that measures each rollout's confidence on the clean and the noised image before the rewards."""

    args: CDRLConfig
    control: Any  # transformers' TrainerControl, replaced by each callback

    def __init__(self, *args: Any, dev_reads: DevReads | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dev_reads = dev_reads  # more dev metrics from each greedy response (a grounding run: box IoU, format)
        self.reads_confidence = any(isinstance(f, PerceptionReward | CalibrationReward) for f in self.reward_funcs)

    def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
        if not self.reads_confidence:  # no reward reads C or C' (a grounding-only run): no forward passes for them
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        clean, noised = self._confidences(inputs, completion_ids_list)
        local = [(x["id"], c, n) for x, c, n in zip(inputs, clean, noised, strict=True)]
        gathered = gather_object(local)  # every process's rollouts, in the order TRL gathers the rewards
        ids, all_clean, all_noised = ([row[i] for row in gathered] for i in range(3))
        mode = "train" if self.model.training else "eval"
        size = self.num_generations if mode == "train" else self.num_generations_eval
        start = self.accelerator.process_index * len(inputs)
        members = group_members(ids, all_clean, size)[start : start + len(inputs)]
        for example, c, n, (group, position) in zip(inputs, clean, noised, members, strict=True):
            example["clean_confidence"], example["noised_confidence"] = c, n
            example["group_clean_confidence"], example["group_position"] = group, position
        finite = [(c, n) for c, n in zip(all_clean, all_noised, strict=True) if math.isfinite(c - n)]
        if finite:
            self._metrics[mode]["cdrl/clean_confidence"].append(finite_mean(c for c, _ in finite))
            self._metrics[mode]["cdrl/confidence_drop"].append(finite_mean(c - n for c, n in finite))
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    def _confidences(self, inputs: list[dict[str, Any]], completion_ids_list: list[Any]) -> tuple[list[float], ...]:
        """NMLP confidence of each rollout's tokens under the current policy: on the clean, then the noised image."""
        clean: list[float] = []
        noised: list[float] = []
        with torch.no_grad():  # the rewards read C and C' as numbers: no gradient
            model = self.accelerator.unwrap_model(self.model)
            pad = self.processing_class.tokenizer.pad_token_id
            for example, completion_ids in zip(inputs, completion_ids_list, strict=True):
                tokens = list(completion_ids)
                ids = torch.as_tensor(tokens or [pad], dtype=torch.long, device=model.device)[None]  # (1, max(T, 1))
                mask = torch.full_like(ids, 1 if tokens else 0)  # (1, max(T, 1)): an empty one is scored as padding
                for enc, out in (
                    (self._encode(example, example["image"]), clean),
                    (example["noised_encoding"], noised),
                ):
                    enc = enc.to(model.device)
                    confidence = self._forced_confidence(
                        model, enc["input_ids"], enc["attention_mask"], ids, mask, enc
                    )
                    out.append(float(confidence[0]) if tokens else math.nan)  # confidence: (1,)
            return clean, noised

    def _encode(self, example: dict[str, Any], image: Any) -> Any:
        """The processor's prompt encoding of one rollout's prompt with `image` (ids, mask, pixel values, grid)."""
        processor = self.processing_class
        text = processor.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=False)
        return processor(images=[image], text=[text], return_tensors="pt")

    def _forced_confidence(
        self, model: Any, prompt_ids: Any, prompt_mask: Any, completion_ids: Any, completion_mask: Any, vision: Any
    ) -> torch.Tensor:
        """NMLP of each row's completion teacher-forced after its prompt: C = mean_t c_t, c_t = -mean_j log p_t(j)."""
        log_probs = forced_log_probs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, vision)
        return nmlp(log_probs, completion_mask, self.args.confidence_top_k)  # (B,)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        for example in inputs:  # encoded once: read by the rewards' C' and by the pathwise loss
            if self.reads_confidence or self.args.perception_loss_weight > 0 or self._reads_greedy():
                example["noised_encoding"] = self._encode(example, example["noised_image"])
        output: dict[str, Any] = super()._generate_and_score_completions(inputs)
        greedy = self._reads_greedy()
        if self.args.perception_loss_weight > 0 or greedy:
            device = output["completion_ids"].device
            noised = [x["noised_encoding"] for x in inputs]
            grids = zip(noised, output["image_grid_thw"], strict=True)  # one image per rollout: (B, 3)
            if any(not torch.equal(n["image_grid_thw"][0], clean_grid) for n, clean_grid in grids):
                raise ValueError("a noised twin differs in size from its clean image; rebuild with `catts data pairs`")
            output["noised_pixel_values"] = [n["pixel_values"].to(device) for n in noised]  # B x (rows, dim)
            output["noised_image_grid_thw"] = [n["image_grid_thw"].to(device) for n in noised]  # B x (1, 3)
        if greedy:
            device = output["completion_ids"].device
            seen = [x["id"] for x in inputs]
            first = [seen.index(x["id"]) == row for row, x in enumerate(inputs)]
            output["greedy_first"] = torch.tensor(first, device=device)  # (B,): one row per prompt
            output.update(self._greedy_columns(inputs, device, noised=False))
        if self.args.greedy_calibration_loss_weight > 0:
            output.update(self._greedy_columns(inputs, output["completion_ids"].device, noised=True))
        if self.args.calibration_loss_weight > 0:
            texts = self.processing_class.batch_decode(output["completion_ids"], skip_special_tokens=True)
            answers = [x["answer"] for x in inputs], [x["answer_type"] for x in inputs], [x["choices"] for x in inputs]
            correct = accuracy_rewards(texts, *answers)  # B x R_acc, as the accuracy reward scores them
            output["correct"] = torch.tensor(correct, device=output["completion_ids"].device)  # (B,)
        return output

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        loss = super()._compute_loss(model, inputs)
        weight, calibration_weight = self.args.perception_loss_weight, self.args.calibration_loss_weight
        metrics = self._metrics["train" if model.training else "eval"]
        greedy_weight = self.args.greedy_calibration_loss_weight
        if greedy_weight > 0:
            brier = self._greedy_brier(model, inputs)  # ()
            metrics["cdrl/greedy_calibration_loss"].append(greedy_weight * float(brier.detach()))
            loss = loss + greedy_weight * brier
        perception_weight = self.args.greedy_perception_loss_weight
        if perception_weight > 0:
            gain = self._greedy_perception(model, inputs)  # ()
            metrics["cdrl/greedy_perception_loss"].append(-perception_weight * float(gain.detach()))
            loss = loss - perception_weight * gain
        if weight == 0 and calibration_weight == 0:
            return loss
        # No early return when no rollout is valid (all truncated): under ZeRO-3 every process runs these forwards
        valid = (inputs["completion_mask"].sum(dim=1) > 0).float()  # (B,)
        count = valid.sum()  # ()
        tokens = (inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"])
        clean_log_probs = forced_log_probs(model, *tokens, inputs)  # (B, T, V), with gradient
        mask = inputs["completion_mask"]  # (B, T)
        if weight > 0:
            noised_vision = {
                "pixel_values": torch.cat(inputs["noised_pixel_values"]),  # (sum rows, dim)
                "image_grid_thw": torch.cat(inputs["noised_image_grid_thw"]),  # (B, 3)
                "mm_token_type_ids": inputs["mm_token_type_ids"],  # (B, P + T): same prompt, same image size
            }
            clean = nmlp(clean_log_probs, mask, self.args.confidence_top_k)  # (B,) C
            noised = self._forced_confidence(model, *tokens, noised_vision)  # (B,) C'
            total = (torch.tanh(self.args.perception_beta * (clean - noised)) * valid).sum()  # (): C up, C' down
            metrics["cdrl/perception_loss"].append(-weight * self._mean_over_processes(total, count))
            loss = loss - weight * total / count.clamp(min=1.0)
        if calibration_weight > 0:
            mean_log_prob = mean_token_log_prob(clean_log_probs, inputs["completion_ids"], mask)  # (B,)
            squared = (torch.exp(mean_log_prob) - inputs["correct"]) ** 2  # (B,) Brier of exp(mean log-prob)
            total = (squared * valid).sum()  # ()
            metrics["cdrl/calibration_loss"].append(calibration_weight * self._mean_over_processes(total, count))
            loss = loss + calibration_weight * total / count.clamp(min=1.0)
        return loss

    def _mean_over_processes(self, total: torch.Tensor, count: torch.Tensor) -> float:
        """sum(total) / sum(count) over all processes (0 when nothing counts), for logging."""
        sums = self.accelerator.gather(torch.stack([total.detach(), count.detach()])[None])  # (processes, 2)
        total_all, count_all = sums.sum(dim=0).tolist()
        return total_all / count_all if count_all > 0 else 0.0


def load_checkpoint(model_dir: str | Path, checkpoint: str | Path) -> Any:
    """A trainer checkpoint as a model: full weights, or a LoRA adapter on `model_dir` (merged by the caller).

    Through `from_pretrained`, which renames saved keys to the model's own: transformers' ``load_best_model_at_end``
    loads state dicts non-strictly and, for Qwen2.5-VL-style checkpoints, silently loads nothing (`CDRLConfig`).
    """
    from transformers import AutoModelForImageTextToText

    if (Path(checkpoint) / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
        return PeftModel.from_pretrained(base, str(checkpoint))
    return AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32)


def train_cdrl(
    model_dir: str | Path,
    pairs_dir: str | Path,
    out_dir: str | Path,
    config: CDRLConfig,
    *,
    peft_config: Any = None,
    dev_dir: str | Path | None = None,
) -> Path:
    """Run CDRL on `model_dir` with the pairs in `pairs_dir`; save a servable model (LoRA merged) to `out_dir`.

    With `dev_dir` (another pairs folder) and ``config.eval_strategy="steps"``, the dev metrics of
    `CDRLTrainer.evaluate` are logged every ``config.eval_steps`` steps and for the final model (``eval_accuracy``,
    ``eval_ece``, ...); with ``metric_for_best_model`` (and checkpoints saved at the dev steps) the best dev
    checkpoint is the one exported. The log's last line names the exported step (``exported_step``).
    Under ``accelerate launch`` every process calls this; the main process writes `out_dir`, the others wait for it.
    """
    dev = None if dev_dir is None else pairs_dataset(dev_dir)
    return train_grpo(
        model_dir,
        pairs_dataset(pairs_dir),
        out_dir,
        config,
        cdrl_reward_funcs(config),
        peft_config=peft_config,
        dev_dataset=dev,
        log_name="cdrl_log.jsonl",
    )


def train_grpo(
    model_dir: str | Path,
    train_dataset: Any,
    out_dir: str | Path,
    config: CDRLConfig,
    reward_funcs: list[Any],
    *,
    peft_config: Any = None,
    dev_dataset: Any = None,
    dev_reads: DevReads | None = None,
    log_name: str,
    trainer_class: type[CDRLTrainer] | None = None,
) -> Path:
    """The one GRPO code path of CDRL, grounding and step confidence: `trainer_class` (`CDRLTrainer` or a subclass
    that adds reward inputs) with `reward_funcs` on `train_dataset` (rows of `pairs_dataset`), dev reads on
    `dev_dataset`, and the export `train_cdrl` describes; the log goes to ``OUT/<log_name>``."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    trainer = (trainer_class or CDRLTrainer)(
        model=model,
        reward_funcs=reward_funcs,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=dev_dataset,
        processing_class=processor,
        peft_config=peft_config,
        dev_reads=dev_reads,
    )
    trainer.train()
    best = trainer.state.best_model_checkpoint if config.metric_for_best_model else None
    evaluated = [row["step"] for row in trainer.state.log_history if "eval_accuracy" in row]
    if dev_dataset is not None and best is None and evaluated and evaluated[-1] != trainer.state.global_step:
        trainer.evaluate()  # the exported model's own dev row, whatever the interval
    exported = trainer.state.global_step if best is None else trainer.state.best_global_step
    source = best
    accelerator = trainer.accelerator
    if source is None and accelerator.num_processes > 1:
        source = str(Path(config.output_dir) / "final")
        trainer.save_model(source)  # on every process: gathers ZeRO-3 shards; the main process writes
    out = Path(out_dir)
    if accelerator.is_main_process:
        trained = trainer.model if source is None else load_checkpoint(model_dir, source)
        if hasattr(trained, "merge_and_unload"):
            trained = trained.merge_and_unload()  # a plain model folder: vLLM serves it directly
        trained.save_pretrained(out)
        processor.save_pretrained(out)
        with (out / log_name).open("w") as f:
            for row in trainer.state.log_history:
                f.write(json.dumps(row) + "\n")
            f.write(json.dumps({"exported_step": exported}) + "\n")
    accelerator.wait_for_everyone()
    return out
