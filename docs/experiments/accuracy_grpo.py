"""Lab: GRPO with the accuracy reward alone on the base model, to train the T = 1 samples themselves.

    catts data pairs --benchmark shapes:100 --limit 1200 --kind gaussian --region global --out runs/rlacc/pairs
    python docs/experiments/accuracy_grpo.py runs/v2d/shapes-base runs/rlacc/pairs runs/rlacc/base-acc-s150 150

The CDRL trainer (`trainers.cdrl.train_cdrl`) with the perception and calibration rewards weighted 0 (TRL's
`reward_weights`): each rollout earns its accuracy and format rewards, so the policy gradient raises the probability
of the sampled responses that are right against those of the same prompt that are wrong. The noised twins are unused
(the perception weight is 0). Measure the result with `capacity_study.py eval` as any other point.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    from trainers.cdrl.config import CDRLConfig
    from trainers.cdrl.trainer import train_cdrl

    model, pairs, out, steps = sys.argv[1:5]
    config = CDRLConfig(
        output_dir=out + "-checkpoints",
        num_generations=8,
        per_device_train_batch_size=32,  # 4 prompts of 8 rollouts per step
        max_steps=int(steps),
        learning_rate=5e-5,
        max_completion_length=64,
        perception_alpha=0.0,
        reward_weights=[1.0, 1.0, 0.0, 0.0],  # accuracy, format, perception, calibration
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        use_cpu=True,
    )
    train_cdrl(model, pairs, out, config)


if __name__ == "__main__":
    main()
