"""What the terminal shows: the architectures per tier at the start, a progress bar over rounds
with the latest evaluated accuracy beside it, and the closing tables (latency study,
participation, accuracy per OOD ratio)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harmony_sim.console import (
    RoundProgress,
    console,
    print_latency_table,
    print_participation,
    print_summary,
)
from harmony_sim.devices.report import print_architectures
from harmony_sim.evaluation.hybrid import metric_name
from harmony_sim.outputs.base import Row, RunEnd, RunOutput, RunStart


class ConsoleReport(RunOutput):
    def __init__(self, progress: bool = True) -> None:
        self.progress = progress
        self.bar: RoundProgress | None = None
        self.ratios: Sequence[float] = ()
        self.latest: dict[str, Any] = {}

    def run_started(self, start: RunStart) -> None:
        s = start.scenario
        self.ratios = s.evaluation.ood_ratios
        print_architectures(start.population.tiers, start.population.host_gflops)
        for row in start.recorded:  # a resumed run: the last evaluated round so far
            self._remember(row)
        self.bar = RoundProgress(s.training.rounds, f"{s.name} [{s.algorithm.name}]",
                                 enabled=self.progress, done=start.resumed_from or 0)
        self.bar.__enter__()

    def round_finished(self, row: Row) -> None:
        self._remember(row)
        if self.bar is not None and row["round"] > 0:
            self.bar.advance(self._status(row))

    def run_finished(self, end: RunEnd) -> None:
        self.close()
        s, summary = end.scenario, end.summary
        if "inference" in summary:
            print_latency_table(summary["inference"])
        print_participation(summary["participation"])
        print_summary(f"{s.name}: {s.algorithm.name}, {s.training.rounds} rounds (mean over "
                      f"{summary['evaluated_clients']} clients)", summary["final"],
                      s.evaluation.ood_ratios)
        console.print(f"results: {end.run_dir.path}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def _remember(self, row: Row) -> None:
        if self._key() in row:
            self.latest = dict(row)

    def _key(self) -> str:
        return metric_name("hybrid_acc", 0.5 if 0.5 in self.ratios else self.ratios[-1])

    def _status(self, row: Row) -> str:
        key = self._key()
        accuracy = self.latest.get(key, math.nan)
        at = f" (round {self.latest['round']})" if self.latest.get("round") != row["round"] else ""
        return f"loss {row['exit_loss']:.3f}  {key} {accuracy:.3f}{at}"
