"""Lab: one CDRL run on the v2 base model with any `CDRLConfig` levers, dev-set reads every 50 steps.

    python docs/experiments/cdrl_levers.py runs/cdrl/brier 150 '{"greedy_calibration_loss_weight": 1.0,
        "reward_weights": [0, 0, 0, 0], "num_generations": 2, "per_device_train_batch_size": 16}'

`catts train cdrl` exposes the levers a user needs; this script also reaches the ones only the lab sweeps (TRL's
`reward_weights`, which turns the paper's reward terms down or off). Pairs: `catts data pairs --benchmark shapes:100
--limit 1200 --kind ddpm --level 1.0 --region question --out runs/cdrl/pairs`; dev: the same from world seed 30001,
200 items, `--out runs/cdrl/dev` (the dev set stays the DDPM one; `"pairs": FOLDER` among the levers trains on other
pairs, e.g. `--kind occlusion` ones). Measure the result with `capacity_study.py eval` and `runs`' served probe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

BASE = "catts_graph/shapes/models/shapes-base"


def main(defaults: dict[str, Any] | None = None) -> None:
    """Train with the command line's OUT STEPS LEVERS; `defaults` (another lab script's) under the levers."""
    from trainers.cdrl import trainer
    from trainers.cdrl.config import CDRLConfig

    out, steps, levers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}")
    pairs = levers.pop("pairs", "runs/cdrl/pairs")  # the training pairs folder (default: DDPM, question region)
    settings = {
        "output_dir": out + "-checkpoints",
        "num_generations": 8,
        "per_device_train_batch_size": 32,
        "max_steps": steps,
        "learning_rate": 5e-5,
        "max_completion_length": 64,
        "scale_rewards": "none",
        "logging_steps": 1,
        "eval_strategy": "steps",
        "eval_steps": 50,
        "eval_on_start": True,
        "per_device_eval_batch_size": 8,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
        "use_cpu": True,
        **(defaults or {}),
        **levers,
    }
    settings["per_device_eval_batch_size"] = settings["num_generations"]  # unused; TRL checks divisibility
    trainer.train_cdrl(BASE, pairs, out, CDRLConfig(**settings), dev_dir="runs/cdrl/dev")


if __name__ == "__main__":
    main()
