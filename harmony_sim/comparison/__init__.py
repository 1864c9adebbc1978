"""Compare finished runs: rows from run folders, mean ± std per group of runs, the printed
table, CSV/JSON and a figure. Used by `python -m harmony_sim compare|sweep` and
benchmarks/compare.py."""

from harmony_sim.comparison.report import write_comparison
from harmony_sim.comparison.runs import FinishedRun, find_runs, read_runs_csv, run_row

__all__ = ["FinishedRun", "find_runs", "read_runs_csv", "run_row", "write_comparison"]
