"""The latency study at the end of a run: per-tier latency, fallback rate and accuracy swept over
network conditions x codecs x exit thresholds; a load sweep over the number of active clients;
and, with an SLO, each tier's threshold chosen to meet a p95 target at the best accuracy
(slo.py). It computes tables only: outputs/latency_files.py writes them and their plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harmony_sim.data import Dataset
from harmony_sim.devices import DeviceProfile
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.inference.requests import RequestOutcome
from harmony_sim.inference.slo import slo_choice
from harmony_sim.inference.study_runs import (
    ALL_TIERS,
    StudySetup,
    prepare_study,
    run_thresholds,
    study_sources,
    tier_rows,
)
from harmony_sim.models import ArchSpec
from harmony_sim.scenario import Scenario

STUDY_COLUMNS = ("condition", "codec", "threshold", "tier", "requests", "p50_ms", "p95_ms",
                 "p99_ms", "mean_ms", "fallback_rate", "accuracy", "queue_ms", "uplink_bytes")
LOAD_COLUMNS = ("clients", "offered_hz", "utilisation", *STUDY_COLUMNS[3:])
SLO_COLUMNS = ("condition", "codec", "tier", "slo_p95_ms", "threshold", "met", "p95_ms",
               "p50_ms", "p99_ms", "fallback_rate", "accuracy")



def latency_study(setup: StudySetup, scenario: Scenario
                  ) -> tuple[list[dict[str, Any]], dict[str, RequestOutcome]]:
    """Rows of STUDY_COLUMNS (every condition x codec x threshold x tier), and per condition
    the outcome at the first codec and the headline threshold (the latency CDF's)."""
    inf = scenario.inference
    sources = study_sources(setup, scenario)
    headline = headline_threshold(scenario)
    rows, headline_outcomes = [], {}
    for condition in scenario.network.conditions:
        for codec in inf.codecs:
            vectors = [[th] * len(setup.tiers) for th in inf.thresholds]
            outcomes = run_thresholds(setup, scenario, condition, codec, sources, vectors)
            for th, outcome in zip(inf.thresholds, outcomes, strict=True):
                rows += [{"condition": condition, "codec": codec, "threshold": th, **r}
                         for r in tier_rows(setup, outcome)]
                if codec == inf.codecs[0] and th == headline:
                    headline_outcomes[condition] = outcome
    return rows, headline_outcomes


def base_threshold(scenario: Scenario) -> float:
    """The study's base exit threshold: inference.load_threshold, else the first swept one."""
    inf = scenario.inference
    return inf.load_threshold if inf.load_threshold is not None else inf.thresholds[0]


def headline_threshold(scenario: Scenario) -> float:
    """The swept threshold nearest the base one."""
    base = base_threshold(scenario)
    return min(scenario.inference.thresholds, key=lambda t: abs(t - base))


def load_sweep(setup: StudySetup, scenario: Scenario) -> list[dict[str, Any]]:
    """Rows of LOAD_COLUMNS: latency against the number of active clients (first condition and
    codec, inference.load_threshold), with the server's offered load and utilisation."""
    inf = scenario.inference
    threshold = base_threshold(scenario)
    rows = []
    for clients in inf.load_clients:
        (outcome,) = run_thresholds(setup, scenario, scenario.network.conditions[0], inf.codecs[0],
                          clients, [[threshold] * len(setup.tiers)])
        offered = float(outcome.fallback.sum()) / inf.duration_s
        load = {"clients": clients, "offered_hz": offered,
                "utilisation": offered / setup.server.capacity_hz}
        rows += [{**load, **r} for r in tier_rows(setup, outcome)]
    return rows


def headline_rows(scenario: Scenario, study: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per condition and tier at the first codec and the headline threshold."""
    first, nearest = scenario.inference.codecs[0], headline_threshold(scenario)
    return [r for r in study if r["codec"] == first and r["threshold"] == nearest]


@dataclass
class StudyResult:
    """The study's tables (rows of STUDY_COLUMNS, LOAD_COLUMNS, SLO_COLUMNS), the per-condition
    outcomes at the headline threshold (for the latency CDF), and the summary.json entry."""

    setup: StudySetup
    study: list[dict[str, Any]]
    summary: dict[str, Any]
    headline_outcomes: dict[str, RequestOutcome] = field(default_factory=dict)
    headline_threshold: float = 0.0
    load: list[dict[str, Any]] = field(default_factory=list)
    slo: list[dict[str, Any]] = field(default_factory=list)


def run_inference_study(scenario: Scenario, dataset: Dataset, evals: Sequence[ClientEvaluation],
                        profiles: Mapping[str, DeviceProfile],
                        tier_archs: Mapping[str, ArchSpec]) -> StudyResult:
    """Every sweep the scenario's inference section asks for (`tier_archs`: each tier's fitted
    architecture, whose device time a request costs)."""
    setup = prepare_study(scenario, dataset, evals, profiles, tier_archs)
    study, headline_outcomes = latency_study(setup, scenario)
    headline = headline_rows(scenario, study)
    summary: dict[str, Any] = {
        "service_ms": setup.server.service_s * 1e3, "workers": setup.server.workers,
        "capacity_hz": setup.server.capacity_hz,
        "device_ms": {t.name: t.device_s * 1e3 for t in setup.tiers},
        "headline": headline}
    inf = scenario.inference
    result = StudyResult(setup, study, summary, headline_outcomes, headline_threshold(scenario))
    if inf.load_clients:
        result.load = load_sweep(setup, scenario)
        summary["load"] = [{k: r.get(k) for k in ("clients", "utilisation", "p95_ms")}
                           for r in result.load if r["tier"] == ALL_TIERS]
    if inf.slo_p95_ms is not None:
        result.slo = summary["slo"] = slo_choice(setup, scenario, study)
    return result
