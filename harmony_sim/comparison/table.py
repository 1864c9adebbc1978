"""Group runs by scenario fields and take mean and std of each figure over a group's runs (its
seeds); print the groups as one rich table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from harmony_sim.comparison.metrics import describe
from harmony_sim.console import console


def aggregate(rows: Sequence[Mapping[str, Any]], by: Sequence[str],
              columns: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per distinct combination of the `by` fields, in order of first appearance:
    those fields, `runs`, `seeds`, and `<column>_mean` / `<column>_std` (population std over the
    runs; NaN where no run has the figure, e.g. server accuracy for local training)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(_text(row.get(field)) for field in by), []).append(row)
    table = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(by, key, strict=True))
        entry["runs"] = len(members)
        entry["seeds"] = " ".join(sorted({_text(r.get("seed")) for r in members}))
        for column in columns:
            values = np.array([_float(r.get(column)) for r in members])
            finite = values[np.isfinite(values)]
            entry[f"{column}_mean"] = float(finite.mean()) if finite.size else math.nan
            entry[f"{column}_std"] = float(finite.std()) if finite.size else math.nan
        table.append(entry)
    return table


def group_label(entry: Mapping[str, Any], by: Sequence[str]) -> str:
    """The group's value for one field; `field=value` pairs (last name part) for several."""
    if len(by) == 1:
        return str(entry[by[0]])
    return ", ".join(f"{field.rsplit('.', 1)[-1]}={entry[field]}" for field in by)


def print_table(table: Sequence[Mapping[str, Any]], by: Sequence[str],
                columns: Sequence[str], title: str) -> None:
    view = Table(title=title, caption="mean ± std over each group's runs; n/a: the algorithm "
                 "has no such path (e.g. no server) or the scenario no such figure")
    for field in by:
        view.add_column(field)
    view.add_column("runs", justify="right")
    for column in columns:
        view.add_column(describe(column).short, justify="right")
    for entry in table:
        cells = [_mean_std(entry[f"{c}_mean"], entry[f"{c}_std"]) for c in columns]
        view.add_row(*(str(entry[f]) for f in by), str(entry["runs"]), *cells)
    needed = console.measure(view, options=console.options.update_width(10_000)).maximum
    # Wider than the console: print at full width (long lines) rather than squeeze the cells
    # into unreadable stubs; comparison.csv holds the same figures.
    target = console if needed <= console.width else Console(file=console.file, width=needed)
    target.print(view)


def _mean_std(mean: float, std: float) -> str:
    return "n/a" if not math.isfinite(mean) else f"{mean:.3f}±{std:.3f}"


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a seed read back from runs.csv as 0.0 is seed 0
    return str(value)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
