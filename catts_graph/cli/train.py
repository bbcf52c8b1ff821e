"""`catts train sft|clip`: reproduce the bundled ShapesVQA models (base from scratch; expert from the base; the CLIP
that finds question-relevant regions)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nodes.errors import InvalidInputError

EPILOG = """\
examples:
  catts train sft --role base --out models/shapes-base                 # ~30 CPU-minutes on 2 cores
  catts train sft --role expert --init models/shapes-base --out models/shapes-expert
  catts train sft --role smoke --out models/smoke --steps 200          # format-only smoke model, ~20 s

Training logs go to OUT/sft_log.jsonl (loss, learning rate, time) and a loss curve to OUT/loss.png.
"""


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train the models catts serves", description="Train models on this machine.")
    train_sub = p.add_subparsers(dest="train_command", metavar="METHOD", required=True)
    sft = train_sub.add_parser(
        "sft",
        help="supervised fine-tuning of the ShapesVQA models",
        description="Train a ShapesVQA model by SFT on CPU (or GPU if torch sees one).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sft.add_argument("--role", choices=["base", "expert", "smoke"], required=True, help="which model to train")
    sft.add_argument("--out", type=Path, required=True, help="output model folder")
    sft.add_argument("--init", type=Path, help="starting model folder (required for --role expert)")
    sft.add_argument("--steps", type=int, help="optimizer steps (default: base 1700, expert 1300, smoke 200)")
    sft.add_argument("--seed", type=int, help="seed (default: the one the bundled model used)")
    sft.set_defaults(handler=run_sft)
    clip = train_sub.add_parser(
        "clip",
        help="contrastive training of the ShapesVQA CLIP (question-guided regions)",
        description="Train the small open_clip model that finds the image patches a ShapesVQA question is about, "
        "then report how much of the questions' evidence its top-25%% patches cover on held-out items.",
        epilog="example:\n  catts train clip --out models/shapes-clip        # ~10 CPU-minutes on 2 cores\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clip.add_argument("--out", type=Path, required=True, help="output folder")
    clip.add_argument("--steps", type=int, default=1000, help="optimizer steps of 64 images (default: %(default)s)")
    clip.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s, the bundled model's)")
    clip.set_defaults(handler=run_clip)


DEFAULT_STEPS = {"base": 1700, "expert": 1300, "smoke": 200}


def run_sft(args: argparse.Namespace) -> int:
    if args.steps is None:
        args.steps = DEFAULT_STEPS[args.role]
    if args.steps < 1:
        raise InvalidInputError("--steps must be at least 1.")
    if args.role == "expert" and (args.init is None or not (args.init / "config.json").is_file()):
        raise InvalidInputError("--role expert needs --init pointing at a trained base model folder.")
    try:
        from trainers.plots import plot_loss
        from trainers.shapes_models import train_base, train_expert
        from trainers.shapes_sft import make_smoke_model
    except ImportError as e:
        raise InvalidInputError(
            f"training needs the `train` extra ({e}); run `uv sync --extra cpu --extra train`."
        ) from None
    seed = {} if args.seed is None else {"seed": args.seed}
    if args.role == "base":
        result = train_base(args.out, steps=args.steps, **seed)
    elif args.role == "expert":
        result = train_expert(args.init, args.out, steps=args.steps, **seed)
    else:
        result = make_smoke_model(args.out, steps=args.steps, progress=True, **seed)
    plot_loss(result.log, result.out_dir / "loss.png", title=f"SFT ({args.role})")
    minutes = result.seconds / 60
    print(f"trained {args.role} for {result.steps} steps in {minutes:.1f} min; final loss {result.final_loss:.3f}")
    print(f"saved to {result.out_dir} (loss curve: {result.out_dir / 'loss.png'})")
    return 0


def run_clip(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise InvalidInputError("--steps must be at least 1.")
    try:
        from catts_graph.clip_relevance import ClipRelevance
        from trainers.plots import plot_loss
        from trainers.shapes_clip import ClipTrainConfig, evidence_coverage, train_shapes_clip
    except ImportError as e:
        raise InvalidInputError(
            f"training needs the `train` extra ({e}); run `uv sync --extra cpu --extra train`."
        ) from None
    result = train_shapes_clip(args.out, ClipTrainConfig(steps=args.steps, seed=args.seed))
    plot_loss(result.log, result.out_dir / "loss.png", title="ShapesVQA CLIP (contrastive)")
    coverage = evidence_coverage(ClipRelevance.load(result.out_dir))
    minutes = result.seconds / 60
    print(f"trained the CLIP for {result.steps} steps in {minutes:.1f} min; final loss {result.final_loss:.3f}")
    print(
        f"evidence coverage on {coverage['items']:.0f} held-out items: {100 * coverage['coverage']:.1f}% of the "
        f"asked-about objects' pixels in the top 25% of patches (a random choice covers 25%)"
    )
    print(f"saved to {result.out_dir}")
    return 0
