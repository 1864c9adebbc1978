"""A run directory with fixed file names. Files are written so that an interrupted run never
leaves a half-written summary or table, and an existing run is never overwritten."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from harmony_sim.errors import UserInputError
from harmony_sim.scenario import Scenario

SCENARIO_FILE = "scenario.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CLIENTS_FILE = "clients.csv"
ROUNDS_FILE = "rounds.csv"
PARTICIPATION_FILE = "participation.csv"  # per round and tier: selected/finished/dropped/...
PARTICIPANTS_FILE = "participants.csv"  # per round and selected client: outcome and time
# Fallback-inference latency study (harmony_sim.inference.study).
LATENCY_STUDY_FILE = "latency_study.csv"
SERVER_LOAD_FILE = "server_load.csv"
LATENCY_SLO_FILE = "latency_slo.csv"
LATENCY_PARETO_PLOT = "latency_pareto.png"
SERVER_LOAD_PLOT = "server_load.png"
LATENCY_CDF_PLOT = "latency_cdf.png"


def default_run_path(scenario: Scenario) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return scenario.output.dir / f"{scenario.name}-{stamp}"


class RunDirectory:
    """Owns one run's folder. Creating it fails if the folder already holds files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path) -> RunDirectory:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserInputError(f"--out {path}: already exists and is not empty; choose a new "
                                 "folder so earlier results are kept")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"--out {path}: cannot create it ({exc.strerror}); choose a "
                                 "writable folder") from None
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_scenario(self, scenario: Scenario) -> None:
        resolved = scenario.model_dump(mode="json", by_alias=True)
        self._write_atomic(SCENARIO_FILE, yaml.safe_dump(resolved, sort_keys=False))

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """One JSON object per line, flushed at once so a crash keeps every finished round."""
        with open(self.file(METRICS_FILE), "a") as handle:
            handle.write(json.dumps(_json_safe(row)) + "\n")
            handle.flush()

    def write_table(self, name: str, columns: Sequence[str],
                    rows: Sequence[Mapping[str, Any]]) -> None:
        """CSV with a header from `columns` (the schema), not from whichever row comes first."""
        tmp = self.file(name + ".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_value(row.get(k)) for k in columns})
        os.replace(tmp, self.file(name))

    def write_json(self, name: str, payload: Mapping[str, Any]) -> None:
        self._write_atomic(name, json.dumps(_json_safe(payload), indent=2) + "\n")

    def _write_atomic(self, name: str, text: str) -> None:
        tmp = self.file(name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.file(name))


def _json_safe(value: Any) -> Any:
    """NaN/inf become null (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value
