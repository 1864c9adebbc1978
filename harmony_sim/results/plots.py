"""PNG plots drawn at the end of a run (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ACCURACY_PLOT = "accuracy_per_round.png"


def plot_accuracy_per_round(rows: Sequence[dict[str, Any]], ratios: Sequence[float],
                            path: Path) -> None:
    """Device, server and hybrid accuracy against round, one panel per OOD ratio."""
    evaluated = [r for r in rows if f"hybrid_acc@p{ratios[0]:g}" in r]
    fig, axes = plt.subplots(1, len(ratios), figsize=(4.2 * len(ratios), 3.4), squeeze=False)
    for ax, ratio in zip(axes[0], ratios, strict=True):
        for metric, style in (("device_acc", "--"), ("server_acc", ":"), ("hybrid_acc", "-")):
            key = f"{metric}@p{ratio:g}"
            points = [(r["round"], r[key]) for r in evaluated if r.get(key) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, marker="o", label=metric.removesuffix("_acc"))
        ax.set_title(f"OOD ratio p = {ratio:g}")
        ax.set_xlabel("round")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (mean over clients)")
    axes[0][-1].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
