"""Compare every algorithm (and HARMONY's ablations) on one scenario over several seeds.

Prints and saves (CSV + PNG) mean and std over seeds of: on-device ID accuracy, server accuracy
on OOD samples, hybrid accuracy and fallback rate at each OOD ratio, and the representation-skew
measures (harmony_sim.evaluation.skew). Runs go to separate processes (`--jobs`), each with the
in-process runtime, so the figures do not depend on Ray scheduling. This is
`python -m harmony_sim sweep SCENARIO --grid algorithm.name=... --set runtime.backend=local`
with this project's algorithm list as the default.

    python benchmarks/compare.py [scenarios/heterogeneous-tiers.yaml]
        [--seeds 0 1 2] [--algorithms harmony splitgp ...] [--quick] [--jobs 2] [--out DIR]
    python benchmarks/compare.py SCENARIO --tables-from DIR/runs.csv
        (re-tabulate finished runs, e.g. after adding a column, without training again)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harmony_sim.comparison import find_runs, read_runs_csv, run_row, write_comparison
from harmony_sim.comparison.metrics import with_exit_rule_auroc
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.sweep import grid_points, run_grid

DEFAULT_SCENARIO = Path("scenarios/heterogeneous-tiers.yaml")
DEFAULT_ALGORITHMS = ["harmony", "harmony_no_meta", "harmony_no_contrastive",
                      "harmony_shared_labels", "splitgp", "heterofl", "sfl", "fedavg", "local"]
QUICK_OVERRIDES = ["training.rounds=4", "clients.per_round=6"]
FORCED_OVERRIDES = ["runtime.backend=local", "output.plots=false"]
BY = ["algorithm.name"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--algorithms", nargs="+", default=DEFAULT_ALGORITHMS)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY.PATH=VALUE")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {' '.join(QUICK_OVERRIDES)}")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (processes)")
    parser.add_argument("--out", type=Path, default=Path("results/compare"))
    parser.add_argument("--tables-from", type=Path, metavar="RUNS_CSV",
                        help="tabulate the runs in this runs.csv instead of training")
    args = parser.parse_args()

    overrides = [*(QUICK_OVERRIDES if args.quick else []), *args.overrides, *FORCED_OVERRIDES]
    base = load_scenario(args.scenario, overrides)  # fail fast on a bad scenario
    started = time.perf_counter()
    if args.tables_from is not None:
        rows = [_from_old_csv(row, base.evaluation.exit_rule, base.name, base.training.rounds)
                for row in read_runs_csv(args.tables_from)]
        out = args.tables_from.parent
    else:
        out = args.out / f"{base.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        points = grid_points({"algorithm.name": args.algorithms}, args.seeds)
        folders = run_grid(args.scenario, overrides, points, out / "runs", jobs=args.jobs,
                           show_progress=False)
        rows = [run_row(run, BY) for run in find_runs(folders)]  # in the order of --algorithms
    write_comparison(rows, BY, out, extra={
        "scenario": str(args.scenario), "overrides": overrides, "seeds": args.seeds,
        "wall_s": time.perf_counter() - started})


def _from_old_csv(row: dict, exit_rule: str, scenario: str, rounds: int) -> dict:
    """runs.csv written before the comparison moved into the package names the algorithm
    `algorithm` and has no scenario, rounds or exit-rule AUROC columns."""
    row.setdefault("algorithm.name", row.get("algorithm"))
    row.setdefault("scenario", scenario)
    row.setdefault("rounds", rounds)
    return with_exit_rule_auroc(row, exit_rule)


if __name__ == "__main__":
    main()
