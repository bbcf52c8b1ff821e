"""`catts train sft|clip|cdrl|grounding`: reproduce the bundled ShapesVQA models (base, expert, CLIP), run CDRL and
grounding."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from catts_graph.cli import train_boundary, train_declared, train_grounding
from catts_graph.cli.train_options import check_grpo_inputs, grpo_arguments, needs_train_extra
from nodes.errors import InvalidInputError

EPILOG = """\
examples:
  catts train sft --role base --out models/shapes-base
  catts train sft --role expert --init models/shapes-base --out models/shapes-expert   # its two stages
  catts train sft --role expert --init models/shapes-expert --out models/expert-more --steps 1800 --seed 3
  catts train sft --role self --init models/shapes-expert --out models/shapes-self --steps 400 --seed 3   # own expert
  catts train sft --role smoke --out models/smoke --steps 200          # format-only smoke model
  catts train sft --role grounded --init models/shapes-base --out models/grounded-sft  # grounding's SFT start
  catts train sft --role grounded --init models/shapes-base --out models/grounded-loc --location-bins 56

Training logs go to OUT/sft_log.jsonl (loss, learning rate, time) and a loss curve to OUT/loss.png. How long each
takes on a CPU: docs/experiments/timing.md.
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
    sft.add_argument(
        "--role",
        choices=["base", "expert", "self", "grounded", "smoke"],
        required=True,
        help="which model to train (self: every role, the base's re-answer included, so one model can be its own "
        "expert)",
    )
    sft.add_argument("--out", type=Path, required=True, help="output model folder")
    sft.add_argument("--init", type=Path, help="starting model folder (required for --role expert, self and grounded)")
    sft.add_argument(
        "--steps",
        type=int,
        help="optimizer steps (default: base 2500, grounded 1500, smoke 200; expert: its two-stage recipe, 1300 + "
        "1800 steps with seeds 1 and 2; --steps or --seed makes it one stage, e.g. to continue from an expert)",
    )
    sft.add_argument("--seed", type=int, help="seed (default: the one the bundled model used)")
    sft.add_argument(
        "--location-bins",
        type=int,
        metavar="B",
        help="--role grounded only: add B location tokens <loc_0>..<loc_B-1> to the model and write boxes with them "
        "(serve and evaluate it with --box-frame normalized:B-1)",
    )
    sft.set_defaults(handler=run_sft)
    clip = train_sub.add_parser(
        "clip",
        help="contrastive training of the ShapesVQA CLIP (question-guided regions)",
        description="Train the small open_clip model that finds the image patches a ShapesVQA question is about, "
        "then report how much of the questions' evidence its top-25%% patches cover on held-out items.",
        epilog="example:\n  catts train clip --out models/shapes-clip\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    clip.add_argument("--out", type=Path, required=True, help="output folder")
    clip.add_argument("--steps", type=int, default=1000, help="optimizer steps of 64 images (default: %(default)s)")
    clip.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s, the bundled model's)")
    clip.set_defaults(handler=run_clip)
    train_grounding.register(train_sub)
    train_boundary.register(train_sub)
    cdrl = train_sub.add_parser(
        "cdrl",
        help="confidence-driven GRPO (CDRL) on clean/noised pairs",
        description="Train a model with CDRL (TRL GRPO; rewards: accuracy, format, perception "
        "alpha*tanh(beta*(C-C')), calibration (2*acc-1)*Cnorm) on pairs from `catts data pairs`.",
        epilog=CDRL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cdrl.add_argument("--model", type=Path, required=True, help="starting model folder")
    cdrl.add_argument("--data", type=Path, required=True, help="a `catts data pairs` folder")
    cdrl.add_argument("--out", type=Path, required=True, help="output model folder (LoRA merged)")
    cdrl.add_argument("--steps", type=int, default=200, help="optimizer steps (default: %(default)s)")
    cdrl.add_argument("--generations", type=int, default=4, help="rollouts per prompt, G (default: %(default)s)")
    cdrl.add_argument(
        "--batch", type=int, default=8, help="rollouts per device per step (all devices: a multiple of G; default: 8)"
    )
    cdrl.add_argument("--learning-rate", type=float, default=1e-5, help="(default: %(default)s)")
    cdrl.add_argument("--max-completion-length", type=int, default=64, help="(default: %(default)s)")
    cdrl.add_argument("--alpha", type=float, default=0.5, help="perception reward scale (default: %(default)s)")
    cdrl.add_argument("--beta", type=float, default=1.0, help="perception reward slope (default: %(default)s)")
    cdrl.add_argument(
        "--perception-loss-weight",
        type=float,
        default=0.0,
        help="w of the pathwise perception loss -w*tanh(beta*(C-C')), gradient through C and C' "
        "(ours; 0 = the paper's reward-only form; default: %(default)s)",
    )
    cdrl.add_argument(
        "--calibration-loss-weight",
        type=float,
        default=0.0,
        help="w of the pathwise calibration loss w*mean (exp(mean log-prob) - R_acc)^2 over the rollouts: lowers "
        "the probability of wrong answers, raises right ones (ours; default: %(default)s)",
    )
    cdrl.add_argument(
        "--kl",
        type=float,
        default=0.0,
        help="KL penalty to the starting model on the clean rollouts (TRL's GRPO beta; default: %(default)s)",
    )
    cdrl.add_argument(
        "--scale-rewards",
        choices=["group", "batch", "none"],
        default="group",
        help="GRPO advantage scaling (TRL's scale_rewards): divide by the group's or the batch's reward std, or not "
        "(default: %(default)s)",
    )
    cdrl.add_argument(
        "--dev",
        type=Path,
        help="a held-out `catts data pairs` folder: greedy accuracy, ECE, AUROC and the NMLP drop C - C' on it are "
        "logged at the start and every --dev-every steps (default: none)",
    )
    cdrl.add_argument("--dev-every", type=int, default=50, help="steps between dev evaluations (default: %(default)s)")
    cdrl.add_argument(
        "--keep-best",
        choices=sorted(DEV_SELECTION),
        help="with --dev: export the dev checkpoint best by this metric instead of the last step (checkpoints every "
        "--dev-every steps; default: the last step)",
    )
    cdrl.add_argument("--lora-r", type=int, default=0, help="LoRA rank; 0 = full fine-tuning (default)")
    cdrl.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    train_declared.add_declared_options(cdrl)
    cdrl.set_defaults(handler=run_cdrl)


DEV_SELECTION = {"accuracy": True, "auroc": True, "brier": False, "ece": False}  # metric: greater is better

CDRL_EPILOG = """\
examples:
  catts data pairs --benchmark shapes:100 --limit 2000 --region objects --out data/pairs
  catts train cdrl --model catts_graph/shapes/models/shapes-base --data data/pairs --out models/shapes-cdrl --steps 300
  catts data pairs --benchmark shapes:30001 --limit 200 --region objects --out data/dev
  catts train cdrl --model catts_graph/shapes/models/shapes-base --data data/pairs --dev data/dev --keep-best brier \\
      --out models/shapes-cdrl

Logs go to OUT/cdrl_log.jsonl (every reward component, mean C and mean C - C' per step, cdrl/perception_loss and
cdrl/calibration_loss when those terms are on; with --dev the dev metrics as
eval_accuracy, eval_ece, eval_auroc, eval_brier, eval_clean_confidence, eval_confidence_drop (its clean answer forced
on the noised twin), eval_own_confidence_drop (its own answer to the twin, as `catts probe` reads)) with a plot in
OUT/cdrl.png. --keep-best brier exports the dev checkpoint with the lowest Brier score (calibration and accuracy in
one proper score) instead of the last step; the table marks the exported step.
On GPUs the same command trains Qwen2.5-VL (accelerate/DeepSpeed recipe: docs/training.md, "On GPUs").
"""


SMOKE_STEPS = 200  # base and expert defaults are their recipes' (BASE_STEPS, EXPERT_STAGES)


def run_sft(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise InvalidInputError("--steps must be at least 1.")
    if args.role in ("expert", "self", "grounded") and (
        args.init is None or not (args.init / "config.json").is_file()
    ):
        raise InvalidInputError(f"--role {args.role} needs --init pointing at a trained base model folder.")
    if args.location_bins is not None and (args.role != "grounded" or args.location_bins < 2):
        raise InvalidInputError("--location-bins needs --role grounded and at least 2 bins.")
    with needs_train_extra():
        from trainers.plots import plot_loss
        from trainers.shapes.models import EXPERT_STAGES, train_base, train_expert, train_grounded_start
        from trainers.shapes.roles import EXPERT_MIX, SELF_MIX
        from trainers.shapes.smoke import make_smoke_model
    seed = {} if args.seed is None else {"seed": args.seed}
    if args.role in ("expert", "self"):
        stages = EXPERT_STAGES
        if args.steps is not None or args.seed is not None:  # one stage, e.g. to train an expert further
            stages = ((args.steps or EXPERT_STAGES[0][0], 1 if args.seed is None else args.seed),)
        result = train_expert(args.init, args.out, stages=stages, mix=SELF_MIX if args.role == "self" else EXPERT_MIX)
    elif args.role == "grounded":
        steps = {} if args.steps is None else {"steps": args.steps}
        result = train_grounded_start(args.init, args.out, **steps, **seed, location_bins=args.location_bins)
    elif args.role == "base":
        steps = {} if args.steps is None else {"steps": args.steps}
        result = train_base(args.out, **steps, **seed)
    else:
        result = make_smoke_model(args.out, steps=args.steps or SMOKE_STEPS, progress=True, **seed)
    plot_loss(result.log, result.out_dir / "loss.png", title=f"SFT ({args.role})")
    vision_log = result.out_dir / "vision_log.jsonl"  # the base model's vision pretraining, before SFT
    if vision_log.is_file():
        rows = [json.loads(line) for line in vision_log.read_text().splitlines()]
        plot_loss(
            rows, result.out_dir / "vision_loss.png", title="vision pretraining", ylabel="cross-entropy per token"
        )
    minutes = result.seconds / 60
    print(f"trained {args.role} for {result.steps} steps in {minutes:.1f} min; final loss {result.final_loss:.3f}")
    print(f"saved to {result.out_dir} (loss curve: {result.out_dir / 'loss.png'})")
    return 0


def run_clip(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise InvalidInputError("--steps must be at least 1.")
    with needs_train_extra():
        from catts_graph.perception.clip_relevance import ClipRelevance
        from trainers.plots import plot_loss
        from trainers.shapes.clip import ClipTrainConfig, evidence_coverage, train_shapes_clip
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


def run_cdrl(args: argparse.Namespace) -> int:
    check_grpo_inputs(args)
    if args.keep_best is not None and args.dev is None:
        raise InvalidInputError("--keep-best chooses among dev checkpoints; give --dev too.")
    if args.confidence == "stated":
        if args.keep_best is not None or args.lora_r:
            raise InvalidInputError("--confidence stated trains fully, to the last step: drop --keep-best, --lora-r.")
        return train_declared.run_declared(args)
    with needs_train_extra():
        from trainers.cdrl.config import CDRLConfig
        from trainers.cdrl.trainer import train_cdrl
        from trainers.plots import plot_grpo
    import torch

    try:
        config = CDRLConfig(
            **grpo_arguments(args),
            perception_alpha=args.alpha,
            perception_beta=args.beta,
            perception_loss_weight=args.perception_loss_weight,
            calibration_loss_weight=args.calibration_loss_weight,
            beta=args.kl,
            scale_rewards=args.scale_rewards,
            save_strategy="no" if args.keep_best is None else "steps",
            save_steps=args.dev_every,
            save_total_limit=None if args.keep_best is None else 2,  # the best and the last
            metric_for_best_model=None if args.keep_best is None else f"eval_{args.keep_best}",
            greater_is_better=None if args.keep_best is None else DEV_SELECTION[args.keep_best],
        )
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    lora = None
    if args.lora_r:
        from peft import LoraConfig

        lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, target_modules=r".*language_model.*_proj")
    out = train_cdrl(args.model, args.data, args.out, config, peft_config=lora, dev_dir=args.dev)
    distributed = torch.distributed.is_initialized()  # under `accelerate launch`: one process per device
    if not distributed or torch.distributed.get_rank() == 0:
        figure = plot_grpo(out / "cdrl_log.jsonl", out / "cdrl.png")
        print(f"saved the CDRL model to {out} (log: {out / 'cdrl_log.jsonl'}, plot: {figure})")
        if args.dev is not None:
            print(dev_table(out / "cdrl_log.jsonl"))
    if distributed:
        torch.distributed.destroy_process_group()  # a gloo group left open aborts the process at exit
    return 0


def dev_table(log_path: Path) -> str:
    """The dev evaluations of a CDRL log as a Markdown table, one row per evaluated step."""
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    exported = next((r["exported_step"] for r in rows if "exported_step" in r), None)
    dev = [r for r in rows if "eval_accuracy" in r]
    lines = [
        "| step | accuracy | ECE | AUROC | Brier | C (NMLP) | C - C' | own-answer drop |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in dev:
        mark = " (exported)" if r.get("step") == exported else ""
        lines.append(
            f"| {r.get('step', 0)}{mark} | {100 * r['eval_accuracy']:.1f}% | {r['eval_ece']:.3f} | "
            f"{r['eval_auroc']:.3f} | {r['eval_brier']:.3f} | {r['eval_clean_confidence']:.2f} | "
            f"{r['eval_confidence_drop']:+.2f} | {r['eval_own_confidence_drop']:+.2f} |"
        )
    return "\n".join(lines)
