"""`compare RUN_DIR... [--by FIELD] [--out DIR]`: table and figure from finished run folders."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from harmony_sim.comparison import find_runs, run_row, write_comparison

DEFAULT_BY = ["algorithm.name"]


def execute(args: argparse.Namespace) -> int:
    by = grouping_fields(args.by)
    runs = find_runs(args.runs)
    rows = [run_row(run, by) for run in runs]
    out = args.out or Path("results") / f"comparison-{datetime.now():%Y%m%d-%H%M%S}"
    write_comparison(rows, by, out, extra={"runs": [str(run.path) for run in runs]})
    return 0


def grouping_fields(given: Sequence[str] | None) -> list[str]:
    """`--by a,b --by c` -> [a, b, c]; none given: group by algorithm."""
    fields = [f.strip() for item in given or [] for f in item.split(",") if f.strip()]
    return list(dict.fromkeys(fields)) or list(DEFAULT_BY)
