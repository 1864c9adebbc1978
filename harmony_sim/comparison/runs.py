"""Finished run folders as flat rows: the grouping fields from scenario.yaml, the figures from
summary.json. Unfinished runs are skipped with one log line each."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harmony_sim.comparison.metrics import with_exit_rule_auroc
from harmony_sim.errors import UserInputError
from harmony_sim.results.run_directory import SCENARIO_FILE, SUMMARY_FILE
from harmony_sim.yaml_reading import parse_yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedRun:
    path: Path
    scenario: dict[str, Any]  # the resolved scenario.yaml
    summary: dict[str, Any]


def find_runs(paths: Iterable[Path]) -> list[FinishedRun]:
    """The finished runs among `paths`; a path that is not a run folder stands for every run
    folder below it (a sweep's output)."""
    runs: dict[Path, FinishedRun] = {}
    for path in paths:
        if not path.is_dir():
            raise UserInputError(f"{path}: no such folder; pass run folders (each holds "
                                 f"{SCENARIO_FILE} and {SUMMARY_FILE}) or a folder of them")
        found = ([path] if (path / SCENARIO_FILE).is_file()
                 else sorted(p.parent for p in path.rglob(SCENARIO_FILE)))
        if not found:
            raise UserInputError(f"{path}: holds no run folder (none has {SCENARIO_FILE}); "
                                 "pass run folders or a folder of them, such as a sweep's output")
        for folder in found:
            run = read_finished(folder)
            if run is not None:
                runs.setdefault(folder.resolve(), run)
    if not runs:
        raise UserInputError("no finished run to compare (see the skipped lines above)")
    return list(runs.values())


def read_finished(folder: Path) -> FinishedRun | None:
    summary_file = folder / SUMMARY_FILE
    if not summary_file.is_file():
        log.warning("skipped %s: unfinished (no %s); finish it with python -m harmony_sim "
                    "--resume %s", folder, SUMMARY_FILE, folder)
        return None
    scenario = parse_yaml((folder / SCENARIO_FILE).read_text()) or {}
    summary = json.loads(summary_file.read_text())
    wanted = scenario.get("training", {}).get("rounds")
    if wanted is not None and summary.get("rounds") != wanted:
        # A resumed run extended to more rounds keeps its earlier summary until it finishes.
        log.warning("skipped %s: unfinished (its %s is from %s of %s rounds); finish it with "
                    "python -m harmony_sim --resume %s", folder, SUMMARY_FILE,
                    summary.get("rounds"), wanted, folder)
        return None
    return FinishedRun(folder, scenario, summary)


def run_row(run: FinishedRun, by: Sequence[str]) -> dict[str, Any]:
    """One run as a flat row: its grouping fields, seed, name, scenario and every figure."""
    row: dict[str, Any] = {field: field_value(run, field) for field in by}
    row.update({"seed": run.summary.get("seed"), "run": str(run.path),
                "scenario": run.summary.get("scenario"), "rounds": run.summary.get("rounds"),
                "wall_s": run.summary.get("wall_s")})
    row.update(_numbers(run.summary.get("final", {})))
    row.update(_numbers(run.summary.get("skew", {})))
    return with_exit_rule_auroc(row, run.summary.get("exit_rule"))


def field_value(run: FinishedRun, dotted: str) -> Any:
    """The scenario field `a.b.c` (an integer part indexes a list) of the run."""
    node: Any = run.scenario
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            sections = ", ".join(run.scenario)
            raise UserInputError(f"--by {dotted}: no such field in {run.path / SCENARIO_FILE}; "
                                 f"give a dotted scenario field such as algorithm.name or "
                                 f"training.lr (sections: {sections})")
    return node


def read_runs_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a runs.csv a comparison wrote: numbers as floats (empty: NaN), the rest text."""
    with open(path, newline="") as handle:
        return [{key: _parse_cell(value) for key, value in row.items()}
                for row in csv.DictReader(handle)]


def _parse_cell(text: str | None) -> Any:
    if text in ("", None):
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return text


def _numbers(figures: dict[str, Any]) -> dict[str, float]:
    """JSON null (a figure the algorithm has no path for) becomes NaN."""
    return {key: (float("nan") if value is None else float(value))
            for key, value in figures.items()
            if value is None or (isinstance(value, int | float) and not isinstance(value, bool))}

