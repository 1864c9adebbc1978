"""Grid sweeps: the cartesian product of scenario field values (and seeds), each point run into
its own folder of one sweep folder, one after another or in parallel processes."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harmony_sim.console import console
from harmony_sim.errors import UserInputError
from harmony_sim.preflight import check_inputs
from harmony_sim.results import RunDirectory
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.simulation import run_simulation

log = logging.getLogger(__name__)
SEED_FIELD = "seed"


@dataclass(frozen=True)
class GridPoint:
    name: str  # the run's folder name, from its values
    values: tuple[tuple[str, str], ...]  # (dotted field, value as given)

    @property
    def overrides(self) -> list[str]:
        return [f"{field}={value}" for field, value in self.values]


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """`["training.lr=0.01,0.1", ...]` -> {"training.lr": ["0.01", "0.1"], ...}; commas inside
    brackets belong to a value (`evaluation.ood_ratios=[0,1],[0.5]`)."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        field, sep, text = spec.partition("=")
        values = split_values(text)
        if not sep or not field.strip() or not values:
            raise UserInputError(f"--grid {spec!r}: expected KEY.PATH=V1,V2,..., e.g. "
                                 "--grid algorithm.name=harmony,splitgp")
        if field.strip() in grid:
            raise UserInputError(f"--grid {field.strip()}: given twice; list all its values "
                                 "in one --grid")
        grid[field.strip()] = values
    return grid


def split_values(text: str) -> list[str]:
    values, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return [v for v in values if v]


def grid_points(grid: Mapping[str, Sequence[str]],
                seeds: Sequence[int] | None = None) -> list[GridPoint]:
    """Every combination of the grid's values, seeds last (so a group's seeds sit together)."""
    axes = {**grid, **({SEED_FIELD: [str(s) for s in seeds]} if seeds else {})}
    short = _short_names(list(axes))
    points = []
    for combo in itertools.product(*axes.values()):
        values = tuple(zip(axes, combo, strict=True))
        name = "_".join(f"{short[field]}-{_safe(value)}" for field, value in values)
        points.append(GridPoint(name or "run", values))
    return points


def run_grid(scenario_path: Path | None, overrides: Sequence[str], points: Sequence[GridPoint],
             out: Path, jobs: int = 1, show_progress: bool = True) -> list[Path]:
    """Run every point into out/<point name>; every point is validated before the first runs.
    Returns the run folders."""
    if jobs < 1:
        raise UserInputError(f"--jobs {jobs}: must be at least 1")
    RunDirectory.create(out)  # refuses a folder that already holds files
    scenarios = [_point_scenario(scenario_path, overrides, point) for point in points]
    if jobs > 1 and any(s.runtime.backend != "local" for s in scenarios):
        raise UserInputError(f"--jobs {jobs}: parallel runs each use the in-process runtime "
                             "in a process of their own; add --set runtime.backend=local, or "
                             "use --jobs 1 to run them one after another on Ray")
    folders = [out / point.name for point in points]
    started = time.perf_counter()
    if jobs == 1:
        for i, (scenario, folder) in enumerate(zip(scenarios, folders, strict=True), start=1):
            log.info("sweep run %d/%d: %s", i, len(folders), folder.name)
            run_simulation(scenario, RunDirectory.create(folder), show_progress=show_progress)
    else:
        # spawn, not fork: a forked child inherits torch's thread pools mid-state.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for finished in pool.map(_run_in_process, scenarios, folders):
                log.info("sweep run finished: %s", Path(finished).name)
    console.print(f"sweep: {len(folders)} runs in {time.perf_counter() - started:.0f} s "
                  f"under {out}")
    return folders


def _point_scenario(scenario_path: Path | None, overrides: Sequence[str],
                    point: GridPoint) -> Scenario:
    source = f"{scenario_path or '<defaults>'} ({point.name})"
    scenario = load_scenario(scenario_path, [*overrides, *point.overrides])
    check_inputs(scenario, source)
    return scenario


def _run_in_process(scenario: Scenario, folder: Path) -> str:
    run_simulation(scenario, RunDirectory.create(folder), show_progress=False)
    return str(folder)


def _short_names(fields: Sequence[str]) -> dict[str, str]:
    """The last part of each dotted field, or the whole field where two share a last part."""
    last = [f.rsplit(".", 1)[-1] for f in fields]
    return {f: (s if last.count(s) == 1 else f) for f, s in zip(fields, last, strict=True)}


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", value).strip("-") or "empty"
