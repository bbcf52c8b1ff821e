"""Training plots (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_loss(log: Sequence[dict[str, float]], path: str | Path, *, title: str = "training loss") -> Path:
    """Loss (raw and smoothed) against step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in log]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [row["loss"] for row in log], alpha=0.35, label="loss")
    ax.plot(steps, [row["loss_ema"] for row in log], label="loss (EMA)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (answer tokens)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


CDRL_CURVES = {
    "rewards/accuracy_reward/mean": "accuracy",
    "rewards/format_reward/mean": "format",
    "rewards/PerceptionReward/mean": "perception",
    "rewards/CalibrationReward/mean": "calibration",
    "cdrl/clean_confidence": "mean C (clean)",
    "cdrl/confidence_drop": "mean C - C' (noised)",
}


def plot_cdrl(log_path: str | Path, path: str | Path) -> Path:
    """CDRL's reward components (left) and confidences (right) per logged step, from `cdrl_log.jsonl`."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "cdrl/clean_confidence" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, label in CDRL_CURVES.items():
        axis = right if key.startswith("cdrl/") else left
        axis.plot([r.get("step", i) for i, r in enumerate(rows)], [float(r[key]) for r in rows], label=label)
    left.set_title("reward components")
    right.set_title("confidence")
    for axis in (left, right):
        axis.set_xlabel("logged step")
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
