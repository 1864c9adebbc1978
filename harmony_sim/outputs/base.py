"""The callback interface between the round loop and what a run writes or shows.

The loop calls `run_started` once before round 0's evaluation (on resume: with the rounds already
recorded), `round_finished` with each round's metrics row (round 0 included), and
`run_finished` with everything the run produced; `close` always, also when the run fails. An
output overrides the hooks it needs; adding one is one module and a line in default_outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_sim.inference.study import StudyResult
from harmony_sim.population import Population
from harmony_sim.results import RunDirectory
from harmony_sim.scenario import Scenario

Row = Mapping[str, Any]


@dataclass(frozen=True)
class RunStart:
    scenario: Scenario
    run_dir: RunDirectory
    population: Population
    recorded: Sequence[Row]  # rounds recorded before this process (a resumed run), else empty
    resumed_from: int | None = None


@dataclass(frozen=True)
class RunEnd:
    scenario: Scenario
    run_dir: RunDirectory
    population: Population
    rows: Sequence[Row]  # metrics per round, round 0 first
    tier_rows: Sequence[Row]  # participation per round and tier
    client_rows: Sequence[Row]  # each selected client's outcome per round
    client_metrics: Sequence[Row]  # the final evaluation's per-client metrics (clients.csv)
    summary: Mapping[str, Any]  # summary.json, complete
    study: StudyResult | None  # the latency study (inference.enabled)


class RunOutput:
    """Base class: every hook does nothing."""

    def run_started(self, start: RunStart) -> None:
        """Before the first round this process runs."""

    def round_finished(self, row: Row) -> None:
        """A round's metrics row (evaluated rounds hold the accuracy figures)."""

    def run_finished(self, end: RunEnd) -> None:
        """After the final evaluation and the latency study."""

    def close(self) -> None:
        """Release what the output holds (always called)."""
