"""metrics.jsonl: one JSON object per finished round, appended (and flushed) as it finishes."""

from __future__ import annotations

from harmony_sim.outputs.base import Row, RunOutput, RunStart
from harmony_sim.results import RunDirectory


class MetricsLog(RunOutput):
    def __init__(self) -> None:
        self.run_dir: RunDirectory | None = None

    def run_started(self, start: RunStart) -> None:
        self.run_dir = start.run_dir
        if start.resumed_from is not None:
            # The checkpoint's rounds exactly: rounds after it are run again.
            start.run_dir.rewrite_metrics(start.recorded)

    def round_finished(self, row: Row) -> None:
        assert self.run_dir is not None
        self.run_dir.append_metrics(row)
