"""The latency study's CSV tables, and its plots when output.plots is on."""

from __future__ import annotations

from harmony_sim.inference.study import LOAD_COLUMNS, SLO_COLUMNS, STUDY_COLUMNS
from harmony_sim.outputs.base import RunEnd, RunOutput
from harmony_sim.results.latency_plots import (
    plot_latency_cdf,
    plot_latency_pareto,
    plot_server_load,
)
from harmony_sim.results.run_directory import (
    LATENCY_SLO_FILE,
    LATENCY_STUDY_FILE,
    SERVER_LOAD_FILE,
)


class LatencyFiles(RunOutput):
    def run_finished(self, end: RunEnd) -> None:
        result, scenario, out = end.study, end.scenario, end.run_dir
        if result is None:
            return
        out.write_table(LATENCY_STUDY_FILE, STUDY_COLUMNS, result.study)
        if result.load:
            out.write_table(SERVER_LOAD_FILE, LOAD_COLUMNS, result.load)
        if result.slo:
            out.write_table(LATENCY_SLO_FILE, SLO_COLUMNS, result.slo)
        if not scenario.output.plots:
            return
        plot_latency_pareto(result.study, out, f"{scenario.name}: {scenario.algorithm.name}, "
                            "accuracy against fallback latency per tier")
        codec = scenario.inference.codecs[0]
        plot_latency_cdf(result.headline_outcomes, [t.name for t in result.setup.tiers],
                         f"{scenario.name}: {scenario.algorithm.name}, latency CDF per tier "
                         f"({codec}, exit threshold {result.headline_threshold:g}; the step: "
                         "answers on the device)", out)
        if result.load:
            plot_server_load(result.load, result.setup.server, scenario, out)
