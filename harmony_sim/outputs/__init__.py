"""What a run writes and shows, as callbacks the round loop calls (base.RunOutput): metrics.jsonl,
the CSV tables, summary.json, plots, the latency study's files, TensorBoard and the console."""

from __future__ import annotations

import logging

from harmony_sim.outputs.accuracy_plot import AccuracyPlot
from harmony_sim.outputs.base import RunEnd, RunOutput, RunStart
from harmony_sim.outputs.console_report import ConsoleReport
from harmony_sim.outputs.latency_files import LatencyFiles
from harmony_sim.outputs.metrics_log import MetricsLog
from harmony_sim.outputs.summary_file import SummaryFile
from harmony_sim.outputs.tables import RunTables
from harmony_sim.outputs.tensorboard_log import TensorBoardLog, tensorboard_available
from harmony_sim.scenario import Scenario

log = logging.getLogger(__name__)

__all__ = ["RunEnd", "RunOutput", "RunStart", "default_outputs"]


def default_outputs(scenario: Scenario, show_progress: bool = True) -> list[RunOutput]:
    """Every output the scenario asks for, console last (it prints where the files are)."""
    outputs: list[RunOutput] = [MetricsLog(), RunTables(), LatencyFiles(), SummaryFile()]
    if scenario.output.plots:
        outputs.append(AccuracyPlot())
    if scenario.output.tensorboard:
        if tensorboard_available():
            outputs.append(TensorBoardLog())
        else:
            log.info("no TensorBoard files: tensorboard is not installed "
                     "(pip install -e .[tensorboard]; or set output.tensorboard=false)")
    outputs.append(ConsoleReport(progress=show_progress))
    return outputs
