"""accuracy_per_round.png: the learning curve of every inference path (output.plots)."""

from __future__ import annotations

from harmony_sim.outputs.base import RunEnd, RunOutput
from harmony_sim.results.plots import ACCURACY_PLOT, plot_accuracy_per_round


class AccuracyPlot(RunOutput):
    def run_finished(self, end: RunEnd) -> None:
        s = end.scenario
        title = (f"{s.name}: {s.algorithm.name}, {s.clients.count} clients, seed {s.seed} "
                 f"(exit rule {s.evaluation.exit_rule} at {s.evaluation.exit_threshold:g})")
        plot_accuracy_per_round(list(end.rows), s.evaluation.ood_ratios,
                                end.run_dir.file(ACCURACY_PLOT), title)
