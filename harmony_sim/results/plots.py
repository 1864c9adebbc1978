"""PNG plots drawn at the end of a run (matplotlib, headless)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

ACCURACY_PLOT = "accuracy_per_round.png"
PATHS = (("device_acc", "--", "device (exit head only)"),
         ("server_acc", ":", "server (every sample falls back)"),
         ("hybrid_acc", "-", "hybrid (exit, else fallback)"))


def plot_accuracy_per_round(rows: Sequence[dict[str, Any]], ratios: Sequence[float],
                            path: Path, title: str) -> None:
    """Device, server and hybrid accuracy against round at every evaluated round, one panel per
    OOD ratio; a path the algorithm does not have (n/a) is left out, not drawn as 0."""
    evaluated = [r for r in rows if f"hybrid_acc@p{ratios[0]:g}" in r]
    fig, axes = plt.subplots(1, len(ratios), figsize=(4.2 * len(ratios), 3.8), squeeze=False,
                             sharey=True)
    for ax, ratio in zip(axes[0], ratios, strict=True):
        for metric, style, label in PATHS:
            key = f"{metric}@p{ratio:g}"
            points = [(r["round"], r[key]) for r in evaluated
                      if r.get(key) is not None and not math.isnan(r[key])]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
        ax.set_title(f"OOD share of requests p = {ratio:g}")
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (mean over evaluated clients)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
