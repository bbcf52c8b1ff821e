"""Figures people would rather look at than read (matplotlib, headless, imported lazily).

matplotlib comes with the `train` extra; without it commands write everything else and say how to get the plots
(`plots_unavailable`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plots_unavailable() -> str | None:
    """None when matplotlib imports; otherwise one line saying that the plots were skipped and how to get them."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return (
            "plots skipped: they need matplotlib, which comes with the `train` extra "
            "(`uv sync --extra train`, or `pip install matplotlib`)."
        )
    return None


def method_comparison(
    accuracy: Mapping[str, float],
    cost: Mapping[str, float],
    path: str | Path,
    *,
    title: str,
    n_items: int,
    cost_label: str = "tokens per item (prompt + completion)",
) -> Path:
    """Accuracy and mean cost per item (tokens, or compute with its `cost_label`), one bar per method, side by side;
    saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(accuracy)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4))
    colors = ["#9aa5b1", "#6b8fb5", "#d9822b", "#5f9e6e"]
    bars = left.bar(methods, [100 * accuracy[m] for m in methods], color=[colors[i % 4] for i in range(len(methods))])
    left.bar_label(bars, fmt="%.0f%%")
    left.set_ylim(0, 100)
    left.set_ylabel(f"accuracy (%) on {n_items} items")
    right.bar(methods, [cost[m] for m in methods], color="#bfc5cc")
    right.set_ylabel(cost_label)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def probe_curves(curves: Mapping[str, list[dict[str, float]]], path: str | Path, *, title: str) -> Path:
    """Accuracy and confidence against perturbation level, one panel per perturbation kind; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(curves)
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        levels = [p["level"] for p in curves[kind]]
        ax.plot(levels, [p["accuracy"] for p in curves[kind]], "o-", color="#d9822b", label="accuracy")
        ax.plot(
            levels, [p["probability"] for p in curves[kind]], "s-", color="#2b6cb0", label="confidence (own answer)"
        )
        forced = [p["forced_probability"] for p in curves[kind]]
        ax.plot(levels, forced, "^--", color="#6b8fb5", label="confidence (clean answer, teacher-forced)")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("perturbation level")
        ax.set_title(kind)
    axes[0][0].set_ylabel("accuracy / confidence (probability)")
    axes[0][-1].legend(loc="lower left", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def rh_curve(rows: list[dict[str, float]], path: str | Path, *, title: str) -> Path:
    """Perception accuracy H against reasoning accuracy R, one point per token budget (labelled); saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    r = [100 * row["reasoning_accuracy"] for row in rows]
    h = [100 * row["perception_accuracy"] for row in rows]
    ax.plot(r, h, "o-", color="#6b8fb5")
    for row, x, y in zip(rows, r, h, strict=True):
        ax.annotate(f"{row['budget']:g} tok", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("reasoning accuracy R (%)")
    ax.set_ylabel("perception accuracy H (%)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def eval_plots(metrics: dict[str, Any], out_dir: Path) -> list[Path]:
    """`catts eval`'s figures: scaling.png (accuracy vs N), cost.png (accuracy vs cost per item: compute, or tokens
    where the run has no parameter counts, `metrics["cost"]`), reliability.png (largest N)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(metrics["methods"].values())
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_method[row["method"]].append(row)
    methods = sorted(by_method)
    palette = plt.get_cmap("tab20")  # one colour and marker per method, stable across the three plots
    style = {m: {"color": palette(i % 20), "marker": "osD^v<>p*h"[i % 10]} for i, m in enumerate(methods)}
    paths = []
    cost = metrics["cost"]
    for name, x_field, x_label, log_x in (
        ("scaling.png", "n_samples", "samples per question N", True),
        ("cost.png", cost["field"], cost["label"], True),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for method in methods:
            points = sorted(by_method[method], key=lambda r: r[x_field])
            xs, ys = [p[x_field] for p in points], [100 * p["accuracy"] for p in points]
            ax.plot(xs, ys, "-", label=method, **style[method])
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(x_label)
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=120)
        plt.close(fig)
        paths.append(out_dir / name)
    top_n = max(r["n_samples"] for r in rows)
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    for row in rows:
        if row["n_samples"] == top_n or row["method"] == "greedy":
            bins = row["reliability"]
            xs, ys = [b["confidence"] for b in bins], [b["accuracy"] for b in bins]
            ax.plot(xs, ys, "-", label=row["method"], **style[row["method"]])
    ax.set_xlabel("stated confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (N = {top_n}; greedy at N = 1)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "reliability.png", dpi=120)
    plt.close(fig)
    return [*paths, out_dir / "reliability.png"]
