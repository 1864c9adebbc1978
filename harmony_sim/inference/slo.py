"""SLO mode of the latency study: each tier's exit threshold chosen to meet a p95 latency target
at the best accuracy, then simulated together (tiers share the server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harmony_sim.inference.study_runs import StudySetup, run_thresholds, study_sources, tier_rows
from harmony_sim.scenario import Scenario


def slo_choice(setup: StudySetup, scenario: Scenario,
               study: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per condition x codec: each tier's best-accuracy threshold among those whose p95 met the
    SLO in the sweep (none met: the lowest-p95 one), then one more simulation with those
    per-tier thresholds together, whose figures are what each tier reports (tiers share the
    server, so one tier's choice moves the others' queueing)."""
    inf = scenario.inference
    assert inf.slo_p95_ms is not None
    sources = study_sources(setup, scenario)
    rows = []
    for condition in scenario.network.conditions:
        for codec in inf.codecs:
            chosen = []
            for tier in setup.tiers:
                options = [r for r in study if r["condition"] == condition
                           and r["codec"] == codec and r["tier"] == tier.name
                           and r["requests"] > 0]
                if not options:  # a tier with no request sources
                    chosen.append(inf.thresholds[0])
                    continue
                meeting = [r for r in options if r["p95_ms"] <= inf.slo_p95_ms]
                best = (max(meeting, key=lambda r: (r["accuracy"], -r["p95_ms"])) if meeting
                        else min(options, key=lambda r: r["p95_ms"]))
                chosen.append(best["threshold"])
            (outcome,) = run_thresholds(setup, scenario, condition, codec, sources, [chosen])
            for th, row in zip([*chosen, float("nan")], tier_rows(setup, outcome), strict=True):
                met = row.get("p95_ms", float("inf")) <= inf.slo_p95_ms
                rows.append({"condition": condition, "codec": codec, "slo_p95_ms":
                             inf.slo_p95_ms, "threshold": th, "met": met, **row})
    return rows
