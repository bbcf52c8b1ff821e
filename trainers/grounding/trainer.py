"""Grounded reasoning (SATORI-R1): an SFT warm-up on the grounded format, then GRPO with verifiable rewards.

The format is ``<caption>..</caption> <bbox>[[x1,y1,x2,y2], ..]</bbox> <answer>..</answer>`` (`nodes.grounding`).
The warm-up teaches it from the pairs' own items (their caption, their evidence boxes mapped into the model's input
frame, their answer); GRPO then runs on the CDRL trainer's code path (`trainers.cdrl.trainer.train_grpo`, TRL's
`GRPOTrainer`) with the rewards of `trainers.grounding.rewards`, plus CDRL's perception and calibration rewards when
``config.with_cdrl_rewards``. Dev reads add the greedy answers' box IoU and the share of well-formed responses.

Example:
    >>> config = GroundingGRPOConfig(output_dir="runs/g", num_generations=8, sft_steps=300)  # doctest: +SKIP
    >>> train_grounding("catts_graph/shapes/models/shapes-base", "data/pairs", "models/g", config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.grounding import BoxFrame, as_box, grounded_response, grounding_scores, location_token_ids
from nodes.images import load_image
from nodes.prompts import grounded_prompt
from nodes.protocol import Message
from trainers.cdrl.data import pairs_dataset
from trainers.cdrl.rewards import confidence_reward_funcs
from trainers.cdrl.trainer import train_grpo
from trainers.grounding.config import GroundingGRPOConfig
from trainers.grounding.rewards import format_rewards, grounding_reward_funcs
from trainers.sft import SFTExample, warm_up


def processor_frame(model_dir: str | Path, kind: str) -> BoxFrame:
    """The box frame of the model in `model_dir`; a ``resized`` frame takes its processor's resize limits, a
    ``location`` frame the bin count of its tokenizer's location tokens (`ValueError` when it has none)."""
    if kind == "location":
        from transformers import AutoTokenizer

        bins = len(location_token_ids(AutoTokenizer.from_pretrained(model_dir).get_vocab()))
        if bins < 2:
            raise ValueError(f"{model_dir} has no location tokens; choose another box_frame or add them first")
        return BoxFrame.location_bins(bins)
    if kind != "resized":
        return BoxFrame("normalized" if kind == "normalized" else "original")
    config = json.loads((Path(model_dir) / "processor_config.json").read_text())
    image = config.get("image_processor", config)
    size = image.get("size") or {}
    return BoxFrame(
        "resized",
        min_pixels=int(size.get("shortest_edge", image.get("min_pixels", BoxFrame.min_pixels))),
        max_pixels=int(size.get("longest_edge", image.get("max_pixels", BoxFrame.max_pixels))),
        factor=int(image.get("patch_size", 14)) * int(image.get("merge_size", 2)),
    )


def grounded_examples(pairs_dir: str | Path, frame: BoxFrame, *, location_tokens: bool = False) -> Any:
    """The warm-up's example stream: each pair's clean image, the grounded prompt, and the grounded reference
    (its caption, its true boxes in `frame`, as location tokens with `location_tokens`, its answer), in a fresh
    order every pass."""
    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]

    def stream(rng: random.Random) -> Iterator[SFTExample]:
        while True:
            for r in rng.sample(records, len(records)):
                image = load_image(str(folder / r["image"]))
                boxes = frame.from_image([as_box(b) for b in r["boxes"]], r["width"], r["height"])
                target = grounded_response(r.get("caption") or "", boxes, r["answer"], location_tokens=location_tokens)
                prompt = grounded_prompt(r["question"], r.get("choices"))
                yield SFTExample([image], [Message.user(prompt)], target)

    return stream


def train_grounding(
    model_dir: str | Path,
    pairs_dir: str | Path,
    out_dir: str | Path,
    config: GroundingGRPOConfig,
    *,
    peft_config: Any = None,
    dev_dir: str | Path | None = None,
) -> Path:
    """The warm-up (``config.sft_steps``) into ``OUT-sft``, then GRPO into `out_dir` (log ``grounding_log.jsonl``);
    returns `out_dir`."""
    frame = processor_frame(model_dir, config.box_frame)
    train = pairs_dataset(pairs_dir, grounded=True)  # refuses pairs without boxes before any training
    start = Path(model_dir)
    if config.sft_steps > 0:
        start = warm_up(
            model_dir,
            grounded_examples(pairs_dir, frame, location_tokens=config.box_frame == "location"),
            out_dir,
            steps=config.sft_steps,
            batch_size=max(config.per_device_train_batch_size, 8),
            learning_rate=config.sft_learning_rate,
            seed=config.seed,
        )
    funcs = grounding_reward_funcs(frame) + (confidence_reward_funcs(config) if config.with_cdrl_rewards else [])
    dev = None if dev_dir is None else pairs_dataset(dev_dir, grounded=True)
    return train_grpo(
        start,
        train,
        out_dir,
        config,
        funcs,
        peft_config=peft_config,
        dev_dataset=dev,
        dev_reads=GroundingDevReads(frame),
        log_name="grounding_log.jsonl",
    )


@dataclass(frozen=True)
class GroundingDevReads:
    """A dev row's grounding: its greedy response's box IoU as `catts eval` measures it
    (`nodes.grounding.grounding_scores`: an empty list on an item without evidence scores 1, unlike the reward)
    and whether it is well formed."""

    frame: BoxFrame

    def __call__(self, text: str, example: dict[str, Any]) -> dict[str, float]:
        truth = [as_box(b) for b in example["boxes"] or []]
        iou = grounding_scores(text, truth, self.frame, example["width"], example["height"])["iou"]
        return {"iou": iou, "well_formed": format_rewards([text])[0]}
