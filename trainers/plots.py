"""Training plots (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_loss(
    log: Sequence[dict[str, float]],
    path: str | Path,
    *,
    title: str = "training loss",
    ylabel: str = "cross-entropy (answer tokens)",
) -> Path:
    """Loss (raw and smoothed) against step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in log]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [row["loss"] for row in log], alpha=0.35, label="loss")
    ax.plot(steps, [row["loss_ema"] for row in log], label="loss (EMA)")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
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


DEV_CURVES = {"eval_accuracy": "accuracy", "eval_ece": "ECE", "eval_auroc": "AUROC"}


def plot_cdrl(log_path: str | Path, path: str | Path) -> Path:
    """CDRL's reward components, confidences and (when logged) dev metrics against step, from `cdrl_log.jsonl`."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    rows = [r for r in log if "cdrl/clean_confidence" in r]
    dev = [r for r in log if "eval_accuracy" in r]
    fig, axes = plt.subplots(1, 3 if dev else 2, figsize=(13 if dev else 9, 3.5))
    left, right = axes[0], axes[1]
    for key, label in CDRL_CURVES.items():
        axis = right if key.startswith("cdrl/") else left
        axis.plot([r.get("step", i) for i, r in enumerate(rows)], [float(r[key]) for r in rows], label=label)
    left.set_title("reward components")
    right.set_title("confidence")
    if dev:
        for key, label in DEV_CURVES.items():
            axes[2].plot([r.get("step", 0) for r in dev], [float(r[key]) for r in dev], marker="o", label=label)
        axes[2].set_title("dev set (greedy)")
    for axis in axes:
        axis.set_xlabel("step")
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
