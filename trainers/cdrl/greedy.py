"""The current policy's greedy responses inside a CDRL run: the dev evaluation and the two greedy lab levers.

`GreedyReads` is a mixin of `trainers.cdrl.trainer.CDRLTrainer` (it comes before TRL's `GRPOTrainer`, whose
`evaluate` it replaces). `evaluate` answers a dev set greedily (accuracy, ECE, AUROC, Brier, C - C', and the drop of
its own answer to the noised twin, as `catts probe` reads it). ``greedy_calibration_loss_weight`` and
``greedy_perception_loss_weight`` (`CDRLConfig`) read each prompt's greedy response, decoded once per prompt in eval
mode, and teacher-force it again with gradient (docs/experiments/cdrl-v2.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from trainers.cdrl.config import CDRLConfig
from trainers.cdrl.rewards import accuracy_rewards
from trainers.cdrl.scoring import completion_mask, dev_metrics, forced_log_probs, mean_token_log_prob, nmlp


class GreedyReads:
    """What a CDRL trainer reads from its policy's greedy responses (a mixin: the trainer supplies the rest)."""

    args: CDRLConfig
    accelerator: Any
    model: Any
    processing_class: Any
    eval_dataset: Any
    callback_handler: Any
    state: Any
    control: Any
    dev_reads: Any

    _encode: Callable[[dict[str, Any], Any], Any]  # the trainer's prompt encoding (ids, mask, pixels, grid)
    log: Callable[[dict[str, float]], None]  # transformers' Trainer.log

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """Greedy answers on the dev pairs (``eval_dataset``): accuracy, ECE/AUROC of exp(mean log-prob), and NMLP.

        Replaces TRL's GRPO-loss evaluation: what a CDRL run is judged by is the served model's greedy answer, its
        calibration, and how far its confidence falls when the evidence is destroyed (``confidence_drop``, C - C').
        """
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        n, processes, rank = len(dataset), self.accelerator.num_processes, self.accelerator.process_index
        share = -(-n // processes)  # ceil: the last share is padded with repeats, so all run the same forwards
        positions = range(rank * share, (rank + 1) * share)
        progress = tqdm(positions, desc="dev (greedy)", leave=False, disable=not self.accelerator.is_main_process)
        local = [(p, self._dev_row(model, dataset[p % n])) for p in progress]
        rows = [row for p, row in sorted(gather_object(local), key=lambda pair: pair[0]) if p < n]
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in dev_metrics(rows).items()}
        self.log(dict(metrics))  # model in eval mode: TRL's log adds its (empty) eval metrics, not the train ones
        model.train(was_training)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _greedy(self, model: Any, example: dict[str, Any], encoding: Any) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The current policy's greedy response to one item's prompt `encoding` (with the clean or the noised image):
        ids (1, T), mask (1, T) and R_acc."""
        was_training = model.training
        model.eval()  # with the KV cache: in training mode gradient checkpointing turns it off, and without it
        # transformers' Qwen2.5-VL re-reads prompt-length image-token types at every step and decodes garbage
        with torch.no_grad():  # decoding only: the losses teacher-force the tokens again with gradient
            generated = model.generate(
                **encoding,
                max_new_tokens=self.args.max_completion_length,
                do_sample=False,
                temperature=None,
                top_p=None,
            )  # (1, P + T)
        model.train(was_training)
        completion = generated[:, encoding["input_ids"].shape[1] :]  # (1, T)
        mask = completion_mask(completion, self.processing_class.tokenizer.eos_token_id)  # (1, T)
        text = self.processing_class.decode(completion[0][mask[0].bool()], skip_special_tokens=True)
        item = [example["answer"]], [example["answer_type"]], [example["choices"]]
        return completion, mask, accuracy_rewards([text], *item)[0]

    def _dev_row(self, model: Any, example: dict[str, Any]) -> dict[str, float]:
        """One dev item: its greedy answer's correctness, exp(mean log-prob), its NMLP on the clean and the noised
        image, and the NMLP of the greedy answer the model gives to the noised image itself (as `catts probe`)."""
        clean = self._encode(example, example["image"]).to(model.device)
        noised = self._encode(example, example["noised_image"]).to(model.device)
        completion, mask, correct = self._greedy(model, example, clean)
        own_ids, own_mask, _ = self._greedy(model, example, noised)  # its own answer to the twin
        extra = {}
        if self.dev_reads is not None:
            extra = self.dev_reads(
                self.processing_class.decode(completion[0][mask[0].bool()], skip_special_tokens=True), example
            )
        with torch.no_grad():  # a dev answer's scores: no gradient
            forced = (clean["input_ids"], clean["attention_mask"], completion, mask)
            log_probs = forced_log_probs(model, *forced, clean)  # (1, T, V)
            noised_ids = (noised["input_ids"], noised["attention_mask"], completion, mask)
            own = (noised["input_ids"], noised["attention_mask"], own_ids, own_mask)
            own_log_probs = forced_log_probs(model, *own, noised)  # (1, T', V)
            k = self.args.confidence_top_k
            return {
                "correct": correct,
                "probability": math.exp(float(mean_token_log_prob(log_probs, completion, mask)[0])),
                "clean_confidence": float(nmlp(log_probs, mask, k)[0]),
                "noised_confidence": float(nmlp(forced_log_probs(model, *noised_ids, noised), mask, k)[0]),
                "own_noised_confidence": float(nmlp(own_log_probs, own_mask, k)[0]),
                **extra,
            }

    def _reads_greedy(self) -> bool:
        return self.args.greedy_calibration_loss_weight > 0 or self.args.greedy_perception_loss_weight > 0

    def _greedy_columns(self, inputs: list[dict[str, Any]], device: Any, *, noised: bool) -> dict[str, torch.Tensor]:
        """Per rollout, its prompt's greedy response to the clean or the noised image (decoded once per prompt):
        ids, mask and R_acc."""
        model = self.accelerator.unwrap_model(self.model)
        by_prompt: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
        for example in inputs:
            if example["id"] not in by_prompt:
                encoding = example["noised_encoding"] if noised else self._encode(example, example["image"])
                by_prompt[example["id"]] = self._greedy(model, example, encoding.to(model.device))
        rows = [by_prompt[x["id"]] for x in inputs]
        width = max(ids.shape[1] for ids, _, _ in rows)
        pad = self.processing_class.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long, device=device)  # (B, Tg)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)  # (B, Tg)
        for row, (completion, row_mask, _) in enumerate(rows):
            ids[row, : completion.shape[1]] = completion[0]
            mask[row, : completion.shape[1]] = row_mask[0]
        correct = torch.tensor([c for _, _, c in rows], device=device)  # (B,)
        prefix = "noised_greedy" if noised else "greedy"
        return {f"{prefix}_ids": ids, f"{prefix}_mask": mask, f"{prefix}_correct": correct}

    def _greedy_rows(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows that carry their prompt's greedy responses (one per prompt of this batch) and their weights."""
        first = inputs["greedy_first"].nonzero().squeeze(1)  # (R,)
        weight = torch.ones(len(first), device=first.device)  # (R,)
        if len(first) == 0:  # still run the forwards (ZeRO-3: every process runs the same ones), weighted 0
            first, weight = first.new_zeros(1), weight.new_zeros(1)
        return first, weight

    def _greedy_log_probs(
        self, model: Any, inputs: dict[str, Any], rows: torch.Tensor, prefix: str, noised: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs (R, Tg, V), with gradient, of the `prefix` greedy responses of `rows`, teacher-forced on the
        clean or the noised image; with their ids and mask (R, Tg)."""
        row_list = rows.tolist()
        if noised:
            pixels = [inputs["noised_pixel_values"][r] for r in row_list]
            grid = torch.cat([inputs["noised_image_grid_thw"][r] for r in row_list])  # (R, 3)
        else:
            sizes = inputs["image_grid_thw"].prod(dim=-1)  # (B,) pixel rows per image
            starts = torch.cumsum(sizes, dim=0) - sizes  # (B,)
            pixels = [inputs["pixel_values"][starts[r] : starts[r] + sizes[r]] for r in row_list]
            grid = inputs["image_grid_thw"][rows]  # (R, 3)
        vision = {
            "pixel_values": torch.cat(pixels),  # (sum rows, dim)
            "image_grid_thw": grid,  # (R, 3)
            "mm_token_type_ids": inputs["mm_token_type_ids"][rows, : inputs["prompt_ids"].shape[1]],  # (R, P)
        }
        ids, mask = inputs[f"{prefix}_ids"][rows], inputs[f"{prefix}_mask"][rows]  # (R, Tg), (R, Tg)
        forced = (inputs["prompt_ids"][rows], inputs["prompt_mask"][rows], ids, mask)
        return forced_log_probs(model, *forced, vision), ids, mask

    def _greedy_brier(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean (exp(mean log-prob) - R_acc)^2 of the greedy responses, clean and noised, with gradient; each
        prompt's greedy response counts once."""
        rows, weight = self._greedy_rows(inputs)
        squared = []
        for prefix, noised in (("greedy", False), ("noised_greedy", True)):
            log_probs, ids, mask = self._greedy_log_probs(model, inputs, rows, prefix, noised)  # (R, Tg, V)
            mean = mean_token_log_prob(log_probs, ids, mask)  # (R,)
            squared.append(weight * (torch.exp(mean) - inputs[f"{prefix}_correct"][rows]) ** 2)  # (R,)
        return torch.cat(squared).sum() / (2 * weight.sum()).clamp(min=1.0)  # (): over both views

    def _greedy_perception(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean tanh(beta * (C - C')) over the right greedy responses: C their NMLP on the clean image, C' the same
        tokens' on the noised twin, both with gradient (to be maximised)."""
        rows, weight = self._greedy_rows(inputs)
        weight = weight * inputs["greedy_correct"][rows]  # (R,): right greedy answers only
        k = self.args.confidence_top_k
        clean_log_probs, _, mask = self._greedy_log_probs(model, inputs, rows, "greedy", False)  # (R, Tg, V)
        noised_log_probs, _, _ = self._greedy_log_probs(model, inputs, rows, "greedy", True)  # (R, Tg, V)
        drop = nmlp(clean_log_probs, mask, k) - nmlp(noised_log_probs, mask, k)  # (R,) C - C'
        return (weight * torch.tanh(self.args.perception_beta * drop)).sum() / weight.sum().clamp(min=1.0)
