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
