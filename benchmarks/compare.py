"""Compare every algorithm (and HARMONY's ablations) on one scenario over several seeds.

Prints and saves (CSV + PNG) mean and std over seeds of: on-device ID accuracy, server accuracy
on OOD samples, hybrid accuracy at each OOD ratio, fallback rate, and the representation-skew
measures (harmony_sim.evaluation.skew). Runs go to separate processes (`--jobs`), each with the
in-process runtime, so the figures do not depend on Ray scheduling.

    PYTHONPATH=$PWD python benchmarks/compare.py [scenarios/heterogeneous-tiers.yaml]
        [--seeds 0 1 2] [--algorithms harmony splitgp ...] [--quick] [--jobs 2] [--out DIR]
    PYTHONPATH=$PWD python benchmarks/compare.py SCENARIO --tables-from DIR/runs.csv
        (re-tabulate finished runs, e.g. after adding a column, without training again)
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SCENARIO = Path("scenarios/heterogeneous-tiers.yaml")
DEFAULT_ALGORITHMS = ["harmony", "harmony_no_meta", "harmony_no_contrastive",
                      "harmony_shared_labels", "splitgp", "heterofl", "sfl", "fedavg", "local"]
QUICK_OVERRIDES = ["training.rounds=4", "clients.per_round=6"]
SKEW_COLUMNS = ["skew", "cut_cosine", "cut_cka", "server_ood_acc_arch_spread"]
AUROC_COLUMNS = [f"ood_auroc[{rule}]" for rule in ("entropy", "confidence", "energy",
                                                   "mahalanobis")]


def metric_columns(ratios: list[float]) -> list[str]:
    cols = ["device_id_acc", "server_ood_acc"]
    cols += [f"hybrid_acc@p{r:g}" for r in ratios]
    cols += [f"fallback_rate@p{r:g}" for r in ratios]
    return cols


def run_one(job: tuple[str, list[str], str, int, str]) -> dict[str, Any]:
    """One (algorithm, seed) run in its own process; returns its flattened figures."""
    scenario_path, overrides, algorithm, seed, out = job
    from harmony_sim.results import RunDirectory
    from harmony_sim.scenario.loading import load_scenario
    from harmony_sim.simulation import run_simulation

    scenario = load_scenario(scenario_path, [*overrides, f"algorithm.name={algorithm}",
                                             f"seed={seed}", "runtime.backend=local",
                                             "output.plots=false"])
    run_dir = RunDirectory.create(Path(out) / f"{algorithm}-seed{seed}")
    summary = run_simulation(scenario, run_dir, show_progress=False)
    return {"algorithm": algorithm, "seed": seed, "wall_s": summary["wall_s"],
            **summary["final"], **summary["skew"]}


def read_runs(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as handle:
        return [{k: (v if k == "algorithm" else float(v) if v not in ("", None) else np.nan)
                 for k, v in row.items()} for row in csv.DictReader(handle)]


def aggregate(rows: list[dict[str, Any]], algorithms: list[str],
              columns: list[str]) -> list[dict[str, Any]]:
    table = []
    for algorithm in algorithms:
        mine = [r for r in rows if r["algorithm"] == algorithm]
        entry: dict[str, Any] = {"algorithm": algorithm, "seeds": len(mine)}
        for col in columns:
            values = np.array([float(r.get(col, np.nan)) for r in mine])
            ok = np.isfinite(values)
            entry[f"{col}_mean"] = float(values[ok].mean()) if ok.any() else float("nan")
            entry[f"{col}_std"] = float(values[ok].std()) if ok.any() else float("nan")
        table.append(entry)
    return table


def print_table(table: list[dict[str, Any]], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    view.add_column("algorithm")
    for col in columns:
        view.add_column(col, justify="right")
    for entry in table:
        cells = []
        for col in columns:
            mean, std = entry[f"{col}_mean"], entry[f"{col}_std"]
            cells.append("n/a" if not np.isfinite(mean) else f"{mean:.3f}±{std:.3f}")
        view.add_row(entry["algorithm"], *cells)
    Console(width=250).print(view)


def plot(table: list[dict[str, Any]], columns: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = (len(columns) + 1) // 2
    fig, axes = plt.subplots(2, ncols, figsize=(3.2 * ncols, 7.5), squeeze=False)
    names = [e["algorithm"] for e in table]
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    colours = {"harmony": "tab:red", "harmony ablation": "tab:gray", "baseline": "tab:blue"}

    def kind(name: str) -> str:
        return name if name == "harmony" else ("harmony ablation" if name.startswith("harmony")
                                               else "baseline")

    for ax, col in zip(axes.flat, columns, strict=False):
        means = [e[f"{col}_mean"] for e in table]
        stds = [e[f"{col}_std"] for e in table]
        # NaN (the algorithm has no such path) draws no bar rather than a zero one.
        ax.bar(range(len(names)), means, yerr=np.nan_to_num(stds), capsize=3,
               color=[colours[kind(n)] for n in names])
        for i, mean in enumerate(means):
            if not np.isfinite(mean):
                ax.text(i, 0.02, "n/a", ha="center", fontsize=6, rotation=90)
        ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
        ax.set_title(col, fontsize=9)
        ax.set_ylabel("mean ± std over seeds", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    fig.legend(handles, list(colours), loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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

    from harmony_sim.scenario.loading import load_scenario

    overrides = [*(QUICK_OVERRIDES if args.quick else []), *args.overrides]
    base = load_scenario(args.scenario, overrides)  # fail fast on a bad scenario
    if args.tables_from is not None:
        rows = read_runs(args.tables_from)
        args.algorithms = list(dict.fromkeys(r["algorithm"] for r in rows))
        args.seeds = sorted({int(r["seed"]) for r in rows})
        out, wall = args.tables_from.parent, float("nan")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = args.out / f"{base.name}-{stamp}"
        jobs = [(str(args.scenario), overrides, a, s, str(out / "runs"))
                for s in args.seeds for a in args.algorithms]
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(run_one, jobs))
        wall = time.perf_counter() - started

    columns = metric_columns(base.evaluation.ood_ratios) + SKEW_COLUMNS + AUROC_COLUMNS
    table = aggregate(rows, args.algorithms, columns)
    shown = ["device_id_acc", "server_ood_acc",
             *[f"hybrid_acc@p{r:g}" for r in base.evaluation.ood_ratios],
             "fallback_rate@p0.5" if 0.5 in base.evaluation.ood_ratios
             else f"fallback_rate@p{base.evaluation.ood_ratios[-1]:g}", *SKEW_COLUMNS,
             f"ood_auroc[{base.evaluation.exit_rule}]"]
    title = (f"{base.name}: mean±std over seeds {args.seeds} ({base.training.rounds} rounds; "
             f"{wall:.0f} s)")
    print_table(table, shown, title)
    keys = sorted({k for r in rows for k in r})
    with open(out / "runs.csv", "w", newline="") as handle:  # (re)written: same rows
        writer = csv.DictWriter(handle, ["algorithm", "seed", *[k for k in keys if k not in
                                                              ("algorithm", "seed")]])
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "comparison.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    plot(table, shown, out / "comparison.png", title)
    (out / "comparison.json").write_text(json.dumps(
        {"scenario": str(args.scenario), "overrides": overrides, "seeds": args.seeds,
         "wall_s": wall, "table": table}, indent=1))
    print(f"saved: {out}/comparison.csv, comparison.png, runs.csv")


if __name__ == "__main__":
    main()
