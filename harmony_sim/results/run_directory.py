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


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML that loads back into it."""
    return yaml.safe_dump(scenario.model_dump(mode="json", by_alias=True), sort_keys=False)


def default_run_path(scenario: Scenario) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return scenario.output.dir / f"{scenario.name}-{stamp}"


class RunDirectory:
    """Owns one run's folder. Creating it fails if the folder already holds files. The folder
    itself appears with the first file written, so a run that stops on bad input before that
    leaves nothing behind; `discard_unstarted` removes what the run wrote before its round 0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created: list[Path] = []  # folders this object made, outermost first
        self._written: set[str] = set()
        self._reopened = False

    @classmethod
    def create(cls, path: Path) -> RunDirectory:
        if path.exists() and not path.is_dir():
            raise UserInputError(f"--out {path}: is a file, not a folder; choose a new folder "
                                 "for the run's results")
        if path.exists() and any(path.iterdir()):
            raise UserInputError(f"--out {path}: already exists and is not empty; choose a new "
                                 "folder so earlier results are kept")
        _probe_writable(path)
        return cls(path)

    @classmethod
    def reopen(cls, path: Path) -> RunDirectory:
        """An existing run directory that a resumed run goes on writing into."""
        run_dir = cls(path)
        run_dir._reopened = True
        return run_dir

    def ensure(self) -> Path:
        """The folder, created (with missing parents) on first use."""
        if not self.path.is_dir():
            missing = [p for p in [self.path, *self.path.parents] if not p.exists()]
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserInputError(f"--out {self.path}: cannot create it ({exc.strerror}); "
                                     "choose a writable folder") from None
            self._created = list(reversed(missing))
        return self.path

    def file(self, name: str) -> Path:
        return self.ensure() / name

    def write_scenario(self, scenario: Scenario) -> None:
        self._write_atomic(SCENARIO_FILE, resolved_yaml(scenario))

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """One JSON object per line, flushed at once so a crash keeps every finished round."""
        self._written.add(METRICS_FILE)
        with open(self.file(METRICS_FILE), "a") as handle:
            handle.write(json.dumps(_json_safe(row)) + "\n")
            handle.flush()

    def rewrite_metrics(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """metrics.jsonl holding exactly `rows` (a resumed run: the checkpoint's rounds; rounds
        that finished after the checkpoint are run again)."""
        self._written.add(METRICS_FILE)
        self._write_atomic(METRICS_FILE, "".join(json.dumps(_json_safe(r)) + "\n" for r in rows))

    def write_table(self, name: str, columns: Sequence[str],
                    rows: Sequence[Mapping[str, Any]]) -> None:
        """CSV with a header from `columns` (the schema), not from whichever row comes first."""
        tmp = self.file(name + ".tmp")
        self._written.add(name)
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
        self._written.add(name)
        tmp.write_text(text)
        os.replace(tmp, self.file(name))

    def discard_unstarted(self) -> None:
        """Remove what this object wrote, and the folders it created, if no round was
        recorded yet (a run that failed on its input leaves the disk as it found it)."""
        if self._reopened or METRICS_FILE in self._written or not self.path.is_dir():
            return
        for name in self._written:
            for path in (self.path / name, self.path / (name + ".tmp")):
                path.unlink(missing_ok=True)
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break  # something else is in it now: keep it
        self._created, self._written = [], set()


def _probe_writable(path: Path) -> None:
    """Fail now, not after training, if `path` cannot be created: make the missing folders
    and remove them again."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    if not missing:
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserInputError(f"--out {path}: not writable; choose a writable folder")
        return
    parent = missing[-1].parent
    if parent.exists() and not parent.is_dir():
        raise UserInputError(f"--out {path}: {parent} is a file, not a folder; choose a "
                             "folder path")
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise UserInputError(f"--out {path}: cannot create it ({exc.strerror}); choose a "
                             "writable folder") from None
    for folder in missing:  # innermost first
        folder.rmdir()


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
