"""`catts train grounding`: SATORI-R1's grounded reasoning (caption, evidence boxes, answer) by SFT then GRPO."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catts_graph.cli.train_options import check_grpo_inputs, grpo_arguments, needs_train_extra
from nodes.errors import InvalidInputError

EPILOG = """\
examples:
  catts data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --region objects --out data/pairs
  catts data pairs --benchmark shapes:30001 --limit 200 --kind occlusion --region objects --out data/dev
  catts train grounding --model MODEL --data data/pairs --dev data/dev --out models/g   # warm-up, then GRPO
  catts train grounding --model runs/grounded/sft --data data/pairs --sft-steps 0 --out models/g2  # it grounds already
  catts train grounding --model MODEL --data data/pairs --with-cdrl --out models/g      # plus CDRL's rewards
  catts train grounding --model models/grounded-loc --data data/pairs --sft-steps 0 --box-frame location \
    --out models/g-loc                        # a model that writes its boxes as <loc_K> tokens

The pairs must come from items with evidence boxes (`boxes` in the JSONL contract; ShapesVQA has them). Rewards:
format, caption ((BLEU-4 + ROUGE-L F1) / 2), box IoU (union against union, in the image's pixels) and answer, each
logged as rewards/<name>/mean in OUT/grounding_log.jsonl; with --dev the dev rows add eval_iou and
eval_well_formed. The bundled grounded model's recipe: docs/training.md.
"""


def register(train_sub: Any) -> None:
    p = train_sub.add_parser(
        "grounding",
        help="grounded reasoning (SATORI-R1): SFT warm-up, then GRPO with verifiable rewards",
        description="Teach a model to describe the image, name the boxes of its evidence, then answer; "
        "train each part with a verifiable reward under GRPO (TRL), on the CDRL trainer's code path.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help="starting model folder")
    p.add_argument("--data", type=Path, required=True, help="a `catts data pairs` folder whose items have boxes")
    p.add_argument("--out", type=Path, required=True, help="output model folder")
    p.add_argument("--dev", type=Path, help="dev pairs folder: greedy accuracy, box IoU, ... every --dev-every steps")
    p.add_argument(
        "--sft-steps",
        type=int,
        default=300,
        help="SFT warm-up steps on the pairs' own captions and boxes before GRPO; 0 when the model already writes "
        "the format (default: %(default)s)",
    )
    p.add_argument("--steps", type=int, default=150, help="GRPO optimizer steps (default: %(default)s)")
    p.add_argument("--generations", type=int, default=8, help="rollouts per prompt, G (default: %(default)s)")
    p.add_argument("--batch", type=int, default=32, help="rollouts per step (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=5e-5, help="(default: %(default)s)")
    p.add_argument("--max-completion-length", type=int, default=160, help="(default: %(default)s)")
    p.add_argument(
        "--box-frame",
        choices=["resized", "normalized", "original", "location"],
        default="resized",
        help="the frame the model writes boxes in: resized = its processor's input pixels (Qwen2.5-VL, read from "
        "the model folder), normalized = 0-1000 (Qwen2-VL, Qwen3-VL), original = the image's pixels, location = "
        "its own <loc_K> tokens (catts train sft --location-bins; bins read from its tokenizer)",
    )
    p.add_argument("--with-cdrl", action="store_true", help="add CDRL's perception and calibration rewards")
    p.add_argument("--dev-every", type=int, default=50, help="steps between dev evaluations (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.set_defaults(handler=run_grounding)


def run_grounding(args: argparse.Namespace) -> int:
    check_grpo_inputs(args)
    with needs_train_extra():
        from trainers.grounding.config import GroundingGRPOConfig
        from trainers.grounding.trainer import train_grounding
        from trainers.plots import plot_grpo
    try:
        config = GroundingGRPOConfig(
            **grpo_arguments(args),
            box_frame=args.box_frame,
            with_cdrl_rewards=args.with_cdrl,
            sft_steps=args.sft_steps,
            beta=0.0,
            scale_rewards="none",
            save_strategy="no",
        )
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    out = train_grounding(args.model, args.data, args.out, config, dev_dir=args.dev)
    figure = plot_grpo(out / "grounding_log.jsonl", out / "grounding.png")
    print(f"saved the grounded model to {out} (log: {out / 'grounding_log.jsonl'}, plot: {figure})")
    return 0
