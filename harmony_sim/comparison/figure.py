"""comparison.png: one bar panel per figure, one bar per group (mean over its runs, error bar:
std), coloured by the first grouping field with a legend; a missing figure is no bar, marked
"n/a", never a bar at 0."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from harmony_sim.comparison.metrics import describe  # noqa: E402
from harmony_sim.comparison.table import group_label  # noqa: E402

PANEL_COLUMNS = 5
PANEL_HEIGHT_IN = 3.4
HEADER_IN = 0.4  # the title and the legend above the panels


def plot_comparison(table: Sequence[Mapping[str, Any]], by: Sequence[str],
                    columns: Sequence[str], path: Path, title: str) -> None:
    labels = [group_label(entry, by) for entry in table]
    colour_values = list(dict.fromkeys(str(entry[by[0]]) for entry in table))
    palette = cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])  # tab10 by default
    colours = dict(zip(colour_values, palette, strict=False))
    ncols = min(PANEL_COLUMNS, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    width = max(2.6, 0.45 * len(table) + 1.4)  # per panel: room for the group names
    height = PANEL_HEIGHT_IN * nrows + HEADER_IN
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height), squeeze=False)
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    positions = range(len(table))
    for ax, column in zip(axes.flat, columns, strict=False):
        means = [entry[f"{column}_mean"] for entry in table]
        stds = [entry[f"{column}_std"] for entry in table]
        present = [i for i in positions if math.isfinite(means[i])]
        ax.bar([i for i in present], [means[i] for i in present],
               yerr=[stds[i] for i in present], capsize=3,
               color=[colours[str(table[i][by[0]])] for i in present])
        top = max([means[i] + stds[i] for i in present], default=0.0)
        ax.set_ylim(0, max(1.05, top * 1.05))  # the same scale on every panel unless above 1
        for i in positions:
            if i not in present:  # absent, not zero: the group has no such figure
                ax.text(i, 0.03, "n/a", ha="center", va="bottom", fontsize=8, color="dimgray",
                        rotation=90)
        metric = describe(column)
        ax.set_title(metric.title, fontsize=9)
        ax.set_ylabel(metric.axis, fontsize=8)
        ax.set_xticks(list(positions), labels, rotation=45 if len(table) > 2 else 0,
                      ha="right" if len(table) > 2 else "center", fontsize=7)
        ax.set_xlim(-0.6, len(table) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(color=colours[v], label=v) for v in colour_values]
    fig.legend(handles=handles, title=by[0], loc="upper right", fontsize=8, title_fontsize=8,
               ncols=min(len(handles), 5))
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 1 - HEADER_IN / height))
    fig.savefig(path, dpi=120)
    plt.close(fig)
