"""`sweep SCENARIO --grid key=v1,v2 ... [--seeds ...]`: run the grid into one folder, then
compare its runs grouped by the grid's fields."""

from __future__ import annotations

import argparse
from datetime import datetime

from harmony_sim.cli.compare import DEFAULT_BY
from harmony_sim.comparison import find_runs, run_row, write_comparison
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.sweep import SEED_FIELD, grid_points, parse_grid, run_grid


def execute(args: argparse.Namespace) -> int:
    grid = parse_grid(args.grid)
    base = load_scenario(args.scenario, args.overrides)  # fail fast on the scenario itself
    points = grid_points(grid, args.seeds)
    out = args.out or base.output.dir / f"sweep-{base.name}-{datetime.now():%Y%m%d-%H%M%S}"
    folders = run_grid(args.scenario, args.overrides, points, out, jobs=args.jobs,
                       show_progress=args.verbosity >= 0)
    # A sweep over seeds only still compares something named.
    by = [field for field in grid if field != SEED_FIELD] or list(DEFAULT_BY)
    rows = [run_row(run, by) for run in find_runs(folders)]
    write_comparison(rows, by, out, extra={
        "scenario": str(args.scenario), "overrides": args.overrides, "grid": grid,
        "seeds": args.seeds})
    return 0
