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


CONFIDENCE_CURVES = {"cdrl/clean_confidence": "mean C (clean)", "cdrl/confidence_drop": "mean C - C' (noised)"}
DEV_CURVES = {"eval_accuracy": "accuracy", "eval_ece": "ECE", "eval_auroc": "AUROC", "eval_iou": "box IoU"}


def plot_grpo(log_path: str | Path, path: str | Path) -> Path:
    """A GRPO run's reward components (every ``rewards/<name>/mean`` logged), its confidences when a CDRL reward
    read them, and (when logged) dev metrics against step, from its log (``cdrl_log.jsonl``,
    ``grounding_log.jsonl``)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    rows = [r for r in log if "reward" in r and "eval_accuracy" not in r]
    rewards = sorted({k for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    confidence = [k for k in CONFIDENCE_CURVES if any(k in r for r in rows)]
    dev = [r for r in log if "eval_accuracy" in r]
    panels = ["rewards"] + (["confidence"] if confidence else []) + (["dev"] if dev else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    axis = dict(zip(panels, axes[0], strict=True))
    for key in rewards:
        label = key.removeprefix("rewards/").removesuffix("/mean")
        axis["rewards"].plot([r.get("step", i) for i, r in enumerate(rows)], [r.get(key) for r in rows], label=label)
    axis["rewards"].set_title("reward components")
    for key in confidence:
        steps = [r.get("step", i) for i, r in enumerate(rows)]
        axis["confidence"].plot(steps, [r.get(key) for r in rows], label=CONFIDENCE_CURVES[key])
        axis["confidence"].set_title("confidence")
    for key, label in DEV_CURVES.items():
        if dev and key in dev[0]:
            axis["dev"].plot([r.get("step", 0) for r in dev], [float(r[key]) for r in dev], marker="o", label=label)
            axis["dev"].set_title("dev set (greedy)")
    for ax in axes[0]:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
