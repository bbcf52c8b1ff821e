"""Options the training commands share: the `train` extra's import guard and what every GRPO command (`catts train
cdrl`, `grounding`, `boundary`, `declared`) checks and sets alike."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from nodes.errors import InvalidInputError


@contextlib.contextmanager
def needs_train_extra() -> Iterator[None]:
    """Turn a missing training dependency into a user error that says what to install."""
    try:
        yield
    except ImportError as e:
        raise InvalidInputError(
            f"training needs the `train` extra ({e}); run `uv sync --extra cpu --extra train`."
        ) from None


def check_grpo_inputs(args: argparse.Namespace) -> None:
    """The checks every GRPO command (`catts train cdrl`, `grounding`, `boundary`) runs on its options before loading
    anything: the model and pairs folders, and the budget."""
    if not (args.model / "config.json").is_file():
        raise InvalidInputError(f"--model {args.model} is not a model folder (no config.json).")
    for flag, folder in (("--data", args.data), ("--dev", args.dev)):
        if folder is not None and not (folder / "pairs.jsonl").is_file():
            raise InvalidInputError(f"{flag} {folder} has no pairs.jsonl; make one with `catts data pairs`.")
    if args.steps < 1 or args.generations < 2 or args.batch < 1 or args.dev_every < 1:
        raise InvalidInputError("need --steps >= 1, --generations >= 2, --batch >= 1 and --dev-every >= 1.")
    if getattr(args, "sft_steps", 0) < 0:
        raise InvalidInputError("--sft-steps must be >= 0 (0 skips the warm-up).")


def grpo_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The `GRPOConfig` fields `catts train cdrl`, `grounding` and `boundary` set alike from their options: the
    rollouts, the schedule, the dev reads, logging, and CPU or GPU."""
    import torch

    gpu = torch.cuda.is_available()
    return {
        "output_dir": str(args.out.with_name(args.out.name + "-checkpoints")),
        "num_generations": args.generations,
        "per_device_train_batch_size": args.batch,
        "max_steps": args.steps,
        "learning_rate": args.learning_rate,
        "max_completion_length": args.max_completion_length,
        "logging_steps": 1,
        "eval_strategy": "no" if args.dev is None else "steps",
        "eval_steps": args.dev_every,
        "eval_on_start": args.dev is not None,
        "per_device_eval_batch_size": args.generations,  # unused (dev answers are greedy); TRL checks divisibility
        "report_to": "none",
        "seed": args.seed,
        "use_cpu": not gpu,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
    }
