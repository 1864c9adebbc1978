"""summary.json: the run's final figures and what produced them."""

from __future__ import annotations

from harmony_sim.outputs.base import RunEnd, RunOutput
from harmony_sim.results.run_directory import SUMMARY_FILE


class SummaryFile(RunOutput):
    def run_finished(self, end: RunEnd) -> None:
        end.run_dir.write_json(SUMMARY_FILE, end.summary)
