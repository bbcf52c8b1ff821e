"""Figures people would rather look at than read (matplotlib, headless, imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def method_comparison(
    accuracy: Mapping[str, float], tokens: Mapping[str, float], path: str | Path, *, title: str, n_items: int
) -> Path:
    """Accuracy and mean tokens per item, one bar per method, side by side; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(accuracy)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4))
    bars = left.bar(
        methods, [100 * accuracy[m] for m in methods], color=["#9aa5b1", "#6b8fb5", "#d9822b"][: len(methods)]
    )
    left.bar_label(bars, fmt="%.0f%%")
    left.set_ylim(0, 100)
    left.set_ylabel(f"accuracy (%) on {n_items} items")
    right.bar(methods, [tokens[m] for m in methods], color="#bfc5cc")
    right.set_ylabel("tokens per item (prompt + completion)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
