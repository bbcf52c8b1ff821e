"""The ShapesVQA models the project ships: a base model and a stronger expert, trained from scratch on CPU.

- **Base**: a 4.5M-parameter Qwen2.5-VL (text 4 layers x 256, vision 4 layers x 128, head_dim 64) that reads the
  112 px world images resized to 224 px (64 image tokens). Its vision tower is first pretrained to name what lies
  under each image token (`trainers.shapes.vision`), then, with the tower frozen, the rest is trained by SFT on the
  `answer` (85%) and `reanswer` (15%) roles. Right often but not always, overconfident: the raw material
  CA-TTS and CDRL work on.
- **Expert**: the base model trained further (3,100 more steps in two warm-restarted stages, vision tower still
  frozen, so genuinely stronger) on a mix of answering and the expert roles (critic, voter, planner) written with
  the graph's own prompts.

- **Grounded** (SFT start): the base model trained further on the grounded format (SATORI-R1: caption, evidence
  boxes, answer; `nodes.grounding`), vision tower still frozen; `catts train grounding` then runs GRPO on it.

All share one BPE tokenizer, trained once and shipped with the bundled base model; `train_base` reuses it, so a
retrained base reads and writes the same tokens (it is never retrained).

Example:
    >>> train_base("models/shapes-base")  # doctest: +SKIP
    >>> train_expert("models/shapes-base", "models/shapes-expert")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from catts_graph.shapes.bundled import BASE_MODEL, bundled_model
from catts_graph.shapes.tiny_vlm import TinyVLMSpec, make_tiny_model
from trainers.sft import SFTConfig, SFTResult, sft_train
from trainers.shapes.location import add_location_tokens
from trainers.shapes.roles import BASE_MIX, EXPERT_MIX, Role, grounded_mix, role_stream
from trainers.shapes.vision import pretrain_vision

SHAPES_SPEC = TinyVLMSpec(
    vocab_size=512,
    text_layers=4,
    text_hidden=256,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=768,
    vision_layers=4,
    vision_hidden=128,
    vision_heads=2,
    vision_intermediate=256,
    image_size=224,  # 64 image tokens of 14 x 14 world pixels each: a shape is 13-35 px wide
)
BATCH_SIZE = 32
BASE_STEPS = 2500
VISION_STEPS = 600  # dense pretraining of the vision tower before SFT (trainers.shapes.vision)
VISION_BATCH_SIZE = 64
VISION_FROZEN = ("visual.patch_embed", "visual.blocks")
"""The pretrained tower stays as it is during SFT (the merger, like LLaVA's projector, trains with the language
model): trained along with the random language model, it gave no lower SFT loss than no pretraining at all."""
GROUNDED_STEPS = 1500
EXPERT_STAGES: tuple[tuple[int, int], ...] = ((1300, 1), (1800, 2))
"""(steps, seed) of each expert stage. A third stage made the expert weaker, so the recipe stops at two
(docs/experiments/expert-history.md)."""


def role_config(steps: int, seed: int, *, box_attention: float = 0.0, box_readout: float = 0.0) -> SFTConfig:
    """The role SFT's settings: batch `BATCH_SIZE`, peak lr 1e-3, 2% warm-up, tower frozen, and the box supervision
    weights (`trainers.box_supervision`)."""
    return SFTConfig(
        steps=steps,
        batch_size=BATCH_SIZE,
        learning_rate=1e-3,
        warmup_fraction=0.02,
        seed=seed,
        frozen=VISION_FROZEN,
        box_attention=box_attention,
        box_readout=box_readout,
    )


def train_base(
    out_dir: str | Path,
    *,
    steps: int = BASE_STEPS,
    seed: int = 0,
    progress: bool = True,
) -> SFTResult:
    """Build the base model from scratch (the shipped tokenizer, random init) and train it by SFT.

    The vision tower is first pretrained on dense token targets (`pretrain_vision`, `VISION_STEPS`) and then kept
    frozen (`VISION_FROZEN`); its log is kept in `out_dir` as `vision_log.jsonl`.
    """
    out = Path(out_dir)
    tokenizer = bundled_model(BASE_MODEL)
    init = make_tiny_model(out.with_name(out.name + "-init"), spec=SHAPES_SPEC, seed=seed, tokenizer_dir=tokenizer)
    vision = SFTConfig(steps=VISION_STEPS, batch_size=VISION_BATCH_SIZE, learning_rate=2e-3, seed=seed)
    init = pretrain_vision(init, out.with_name(out.name + "-vision"), vision, progress=progress).out_dir
    config = SFTConfig(steps=steps, batch_size=BATCH_SIZE, learning_rate=1.5e-3, seed=seed, frozen=VISION_FROZEN)
    result = sft_train(init, role_stream(BASE_MIX, block=BATCH_SIZE), out, config, progress=progress)
    for name in ("vision_log.jsonl", "vision_config.json"):
        shutil.copy(init / name, out / name)
    return result


def train_expert(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    stages: Sequence[tuple[int, int]] = EXPERT_STAGES,
    mix: dict[str, tuple[Role, float]] = EXPERT_MIX,
    progress: bool = True,
) -> SFTResult:
    """Continue from the base model on answering plus the expert roles (`mix`), one warm restart per `(steps, seed)`
    stage (`trainers.shapes.roles.SELF_MIX` adds the base model's re-answer: a model that is its own expert).

    Each stage is a fresh cosine schedule from lr 1e-3 on fresh role data (its seed), with the base model's pretrained
    vision tower kept frozen (`VISION_FROZEN`); the log in `out_dir` covers all stages (`stage` per row, steps and
    seconds counted from the start) and `sft_config.json` lists each stage's config.
    """
    if not stages or any(steps < 1 for steps, _ in stages):
        raise ValueError("stages must be a non-empty sequence of (steps >= 1, seed)")
    out = Path(out_dir)
    start, log, configs, done_steps, seconds = Path(base_dir), [], [], 0, 0.0
    for index, (steps, seed) in enumerate(stages, 1):
        last = index == len(stages)
        stage_dir = out if last else out.with_name(f"{out.name}-stage{index}")
        config = role_config(steps, seed)
        result = sft_train(start, role_stream(mix, block=BATCH_SIZE), stage_dir, config, progress=progress)
        log += [
            {**row, "stage": index, "step": row["step"] + done_steps, "seconds": row["seconds"] + seconds}
            for row in result.log
        ]
        configs.append(asdict(config))
        if index > 1:
            shutil.rmtree(start)  # the previous stage's folder: only the last stage is kept
        start, done_steps, seconds = stage_dir, done_steps + steps, seconds + result.seconds
    (out / "sft_log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    (out / "sft_config.json").write_text(json.dumps({"stages": configs}, indent=2) + "\n")
    return SFTResult(out, done_steps, result.final_loss, seconds, log)


def train_grounded_start(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    steps: int = GROUNDED_STEPS,
    vision_steps: int = 0,
    location_bins: int | None = None,
    where: float = 0.0,
    box_attention: float = 0.0,
    box_readout: float = 0.0,
    seed: int = 3,
    progress: bool = True,
) -> SFTResult:
    """The grounded model's SFT warm-up, the start that GRPO with the grounding rewards improves on: the base model
    trained on the grounded roles (`grounded_mix`) with its vision tower frozen (the bundled `shapes-grounded`).

    With `vision_steps` the tower first learns where each token and its object are (`pretrain_vision(where=True)`;
    its log is kept in `out_dir` as `vision_log.jsonl`): the lab notebook's second design, which did not help
    (docs/experiments/grounding.md). With `location_bins` the model first gains that many location tokens
    (`trainers.shapes.location`) and writes its boxes with them: the third design; `where` mixes in that share of
    box-only "where is the X?" examples; `box_attention` and `box_readout` weigh the losses that send one attention
    head to the image tokens under each box being written and make its bins readable where they are written
    (`trainers.box_supervision`).
    """
    start = Path(base_dir)
    if location_bins is not None:
        out = Path(out_dir)
        start = add_location_tokens(start, out.with_name(out.name + "-loc"), bins=location_bins)
    if vision_steps:
        vision = SFTConfig(steps=vision_steps, batch_size=BATCH_SIZE, learning_rate=5e-4, seed=seed)
        out = Path(out_dir)
        start = pretrain_vision(
            start, out.with_name(out.name + "-vision"), vision, where=True, progress=progress
        ).out_dir
    config = role_config(steps, seed, box_attention=box_attention, box_readout=box_readout)
    result = sft_train(
        start,
        role_stream(grounded_mix(location_bins, where=where), block=BATCH_SIZE),
        out_dir,
        config,
        progress=progress,
    )
    if vision_steps:
        for name in ("vision_log.jsonl", "vision_config.json"):
            shutil.copy(start / name, Path(out_dir) / name)
    return result
