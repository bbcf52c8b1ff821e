"""`catts train cdrl --confidence stated`: CDRL on a confidence the model declares after its answer, by an SFT
warm-up that teaches the statement, then GRPO on the declared confidence."""

from __future__ import annotations

import argparse
from pathlib import Path

from catts_graph.cli.train_options import grpo_arguments, needs_train_extra
from catts_graph.cli.values import add_min_p_option
from nodes.errors import InvalidInputError

EPILOG = """\
with --confidence stated (the model declares "(answer confidence: 7/10)" after its answer):
  catts train cdrl --confidence stated --model MODEL --data data/pairs --out models/d --generations 8 --batch 16 \\
      --learning-rate 5e-5 --max-completion-length 128 --temperature 0.6 --steps 60
The warm-up trains on MODEL's greedy responses to the first --sft-items pairs, each with the tenth of its own fitted
answer score declared (OUT-sft/answer_score.json; the targets in OUT-sft/declared_targets.jsonl), the vision tower
kept as loaded; GRPO then rolls out on both views of every pair (the clean image and its noised twin) and rewards a
right clean answer, a statement that matches the answer's correctness (1 - Brier) and, on the noised twin, a
statement below the one the policy declares for the same response on the clean image (alpha*tanh(beta*(C-C'))).
Log: OUT/declared_log.jsonl (rewards/<name>/mean, declared/declares, declared/confidence, declared/noised_drop).
With --labels (from `catts data labels`) the warm-up teaches both views of each pair with their labels instead;
--sft-loss statement puts its loss on the statement alone; --sft-only stops after the warm-up.
"""


def add_declared_options(cdrl: argparse.ArgumentParser) -> None:
    """The options `--confidence stated` reads (ignored by the NMLP path)."""
    group = cdrl.add_argument_group("declared confidence (--confidence stated)", EPILOG)
    group.add_argument(
        "--confidence",
        choices=["nmlp", "stated"],
        default="nmlp",
        help="the confidence CDRL trains: the paper's NMLP, or one the model declares after its answer (ours; an "
        "SFT warm-up teaches the statement first) (default: %(default)s)",
    )
    group.add_argument("--sft-steps", type=int, default=200, help="warm-up steps (0: none) (default: %(default)s)")
    group.add_argument(
        "--sft-items", type=int, default=1200, help="pairs the warm-up's targets come from (default: %(default)s)"
    )
    group.add_argument(
        "--sft-learning-rate", type=float, default=3e-4, help="the warm-up's peak learning rate (default: %(default)s)"
    )
    group.add_argument(
        "--sft-loss",
        choices=["response", "statement"],
        default="response",
        help="what the warm-up's loss covers: the whole response with its statement, or the statement alone (the "
        "response is the start model's own, kept as context, so its answers stay as they were) (default: %(default)s)",
    )
    group.add_argument(
        "--sft-anchor",
        type=float,
        default=1.0,
        help="with --sft-loss statement: weight of the KL to the start model on the response's tokens, which keeps "
        "the statement's tokens out of the responses (default: %(default)s)",
    )
    group.add_argument(
        "--temperature", type=float, default=0.6, help="the rollouts' sampling temperature (default: %(default)s)"
    )
    add_min_p_option(group)
    group.add_argument(
        "--clean-only",
        action="store_true",
        help="roll out on the clean images only (the perception reward then reads nothing: no noised rollouts)",
    )
    group.add_argument(
        "--calibration-weight", type=float, default=1.0, help="weight of the calibration reward (default: 1.0)"
    )
    group.add_argument(
        "--labels",
        type=Path,
        help="a `catts data labels` labels.jsonl of the same pairs: the warm-up teaches both views of each pair, "
        "each greedy response with its label (default: the clean views with the fitted answer score)",
    )
    group.add_argument(
        "--sft-only", action="store_true", help="stop after the warm-up (the model is OUT-sft; no GRPO)"
    )


def run_declared(args: argparse.Namespace) -> int:
    """Train with `--confidence stated` (the caller has checked the common GRPO inputs)."""
    if args.sft_items < 2:
        raise InvalidInputError("--sft-items must be >= 2.")
    with needs_train_extra():
        from trainers.declared.config import DeclaredCDRLConfig
        from trainers.declared.trainer import train_declared
        from trainers.plots import plot_grpo
    try:
        config = DeclaredCDRLConfig(
            **grpo_arguments(args),
            perception_alpha=args.alpha,
            perception_beta=args.beta,
            sft_steps=args.sft_steps,
            sft_items=args.sft_items,
            sft_learning_rate=args.sft_learning_rate,
            sft_statement_only=args.sft_loss == "statement",
            sft_anchor=args.sft_anchor,
            noised_views=not args.clean_only,
            calibration_weight=args.calibration_weight,
            temperature=args.temperature,
            min_p=args.min_p or None,  # TRL: None = off
            beta=args.kl,
            scale_rewards=args.scale_rewards,
            save_strategy="no",
        )
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    if args.labels is not None and not args.labels.exists():
        raise InvalidInputError(f"--labels {args.labels} does not exist; make it with `catts data labels`.")
    if args.sft_only and args.sft_steps < 1:
        raise InvalidInputError("--sft-only trains the warm-up alone: give --sft-steps >= 1.")
    out = train_declared(
        args.model, args.data, args.out, config, dev_dir=args.dev, labels=args.labels, grpo=not args.sft_only
    )
    if args.sft_only:
        print(f"saved the warm-up model to {out} (no GRPO: --sft-only)")
        return 0
    figure = plot_grpo(out / "declared_log.jsonl", out / "declared.png")
    print(f"saved the declared-confidence model to {out} (log: {out / 'declared_log.jsonl'}, plot: {figure})")
    return 0
