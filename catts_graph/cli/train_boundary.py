"""`catts train boundary`: MMBoundary's step confidence, stated for each reasoning step, by SFT then GRPO."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from catts_graph.cli.train_options import check_grpo_inputs, grpo_arguments, needs_train_extra
from catts_graph.cli.values import add_min_p_option
from nodes.errors import InvalidInputError

EPILOG = """\
examples:
  catts data pairs --benchmark shapes:100 --limit 1200 --kind occlusion --region objects --out data/pairs
  catts data pairs --benchmark shapes:30001 --limit 200 --kind occlusion --region objects --out data/dev
  catts train boundary --model MODEL --data data/pairs --dev data/dev --out models/b   # warm-up, then GRPO
  catts train boundary --model models/b --data data/pairs --sft-steps 0 --out models/b2  # it states already

The warm-up trains on the model's own greedy responses to the first --sft-items pairs with a statement of each
step's internal score in five levels: by default all after the answer, "(step confidence: high, low, very high)",
so the reasoning keeps the form it had, the whole target learned and the vision tower kept as loaded
(--statements inline: "(confidence: high)" after each step, as MMBoundary). The internal score is fitted to those
steps' truth first (OUT-sft/step_weights.json; the targets are kept in OUT-sft/stated_targets.jsonl). GRPO then
rewards right steps (against the pairs' reference steps: `steps` in the JSONL contract; ShapesVQA has them), stated
confidence that matches each step's truth, and stated confidence that matches the internal score; each is logged as
rewards/<name>/mean in OUT/boundary_log.jsonl, and with --dev the dev rows add eval_step_correctness and
eval_stated_calibration.
Method: docs/method.md section 9.
"""


def register(train_sub: Any) -> None:
    p = train_sub.add_parser(
        "boundary",
        help="step confidence (MMBoundary): state a confidence for each step, SFT then GRPO",
        description="Teach a model to state its confidence in each reasoning step and calibrate it against the "
        "steps' truth and its internal score, by an SFT warm-up and GRPO (TRL) on the CDRL trainer's code path.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help="starting model folder")
    p.add_argument("--data", type=Path, required=True, help="a `catts data pairs` folder whose items have steps")
    p.add_argument("--out", type=Path, required=True, help="output model folder")
    p.add_argument("--dev", type=Path, help="dev pairs folder: greedy accuracy and step reads every --dev-every steps")
    p.add_argument("--sft-steps", type=int, default=200, help="SFT warm-up steps (0: none) (default: %(default)s)")
    p.add_argument(
        "--sft-items", type=int, default=1200, help="pairs the warm-up's targets come from (default: %(default)s)"
    )
    p.add_argument(
        "--sft-learning-rate", type=float, default=3e-4, help="the warm-up's peak learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--step-splitter",
        choices=["sentences", "clauses"],
        default="clauses",
        help="how responses are cut into steps (default: %(default)s: one listed item a step)",
    )
    p.add_argument(
        "--statements",
        choices=["end", "inline"],
        default="end",
        help="where the model states confidence: after the answer or after each step (default: %(default)s)",
    )
    p.add_argument("--steps", type=int, default=60, help="GRPO optimizer steps (default: %(default)s)")
    p.add_argument("--generations", type=int, default=8, help="rollouts per prompt, G (default: %(default)s)")
    p.add_argument("--batch", type=int, default=16, help="rollouts per step (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=5e-5, help="(default: %(default)s)")
    p.add_argument("--max-completion-length", type=int, default=128, help="(default: %(default)s)")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.6,
        help="the rollouts' sampling temperature: hotter, a small model garbles its statements and the calibration "
        "rewards see none (default: %(default)s)",
    )
    add_min_p_option(p)
    p.add_argument("--dev-every", type=int, default=50, help="steps between dev evaluations (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.set_defaults(handler=run_boundary)


def run_boundary(args: argparse.Namespace) -> int:
    check_grpo_inputs(args)
    if args.sft_items < 1:
        raise InvalidInputError("--sft-items must be >= 1.")
    with needs_train_extra():
        from trainers.boundary.config import BoundaryGRPOConfig
        from trainers.boundary.trainer import train_boundary
        from trainers.plots import plot_grpo
    try:
        config = BoundaryGRPOConfig(
            **grpo_arguments(args),
            step_splitter=args.step_splitter,
            statement_placement=args.statements,
            sft_steps=args.sft_steps,
            sft_items=args.sft_items,
            sft_learning_rate=args.sft_learning_rate,
            temperature=args.temperature,
            min_p=args.min_p or None,  # TRL: None = off
            beta=0.0,
            scale_rewards="none",
            save_strategy="no",
        )
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    out = train_boundary(args.model, args.data, args.out, config, dev_dir=args.dev)
    figure = plot_grpo(out / "boundary_log.jsonl", out / "boundary.png")
    print(f"saved the step-confidence model to {out} (log: {out / 'boundary_log.jsonl'}, plot: {figure})")
    return 0
