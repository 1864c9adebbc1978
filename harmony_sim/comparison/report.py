"""A comparison's outputs from run rows: the printed table, runs.csv (one row per run),
comparison.csv / .json (one row per group) and comparison.png."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harmony_sim.comparison.figure import plot_comparison
from harmony_sim.comparison.metrics import all_columns, ratios_in, shown_columns
from harmony_sim.comparison.table import aggregate, print_table
from harmony_sim.console import console
from harmony_sim.results import RunDirectory

RUNS_CSV = "runs.csv"
COMPARISON_CSV = "comparison.csv"
COMPARISON_JSON = "comparison.json"
COMPARISON_PNG = "comparison.png"


def write_comparison(rows: Sequence[Mapping[str, Any]], by: Sequence[str], out: Path,
                     title: str | None = None,
                     extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Print the table and write the four files into `out`; return the group entries."""
    ratios = ratios_in(rows)
    table = aggregate(rows, by, all_columns(ratios))
    title = title or comparison_title(rows, by)
    print_table(table, by, shown_columns(ratios), title)
    files = RunDirectory(out)  # its atomic CSV/JSON writers (NaN: empty cell, null)
    files.write_table(RUNS_CSV, _run_columns(rows, by), rows)
    files.write_table(COMPARISON_CSV, list(table[0]), table)
    files.write_json(COMPARISON_JSON, {"title": title, "by": list(by), **(extra or {}),
                                       "table": table})
    plot_comparison(table, by, shown_columns(ratios), out / COMPARISON_PNG, title)
    console.print(f"comparison: {out}/{COMPARISON_CSV}, {COMPARISON_PNG}, {RUNS_CSV}")
    return table


def comparison_title(rows: Sequence[Mapping[str, Any]], by: Sequence[str]) -> str:
    """Scenario name(s), the grouping, the seeds and the rounds."""
    scenarios = ", ".join(dict.fromkeys(str(r.get("scenario", "?")) for r in rows))
    seeds = sorted({int(r["seed"]) for r in rows if _is_number(r.get("seed"))})
    rounds = sorted({int(r["rounds"]) for r in rows if _is_number(r.get("rounds"))})
    plural = "" if rounds == [1] else "s"
    rounds_text = f" ({'/'.join(map(str, rounds))} round{plural})" if rounds else ""
    return (f"{scenarios}, grouped by {', '.join(by)}: mean ± std over seeds "
            f"{' '.join(map(str, seeds))}{rounds_text}")


def _run_columns(rows: Sequence[Mapping[str, Any]], by: Sequence[str]) -> list[str]:
    first = [*by, "seed", "scenario", "rounds", "run", "wall_s"]
    rest = sorted({key for row in rows for key in row} - set(first))
    return [key for key in first if any(key in row for row in rows)] + rest


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
