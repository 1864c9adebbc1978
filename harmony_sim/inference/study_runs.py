"""One simulation of the latency study: the tiers' workloads and the server (StudySetup), and one
request draw simulated at given exit thresholds.

Request sources replay the evaluated clients' per-sample records (exit/server predictions,
exit-rule scores), so any number of simulated clients reuses a few evaluated ones: source j of
a tier replays that tier's evaluated client j mod n. Only the codec comparison re-runs a model
(the server back end on each codec's decoded cut, during the final evaluation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_sim.algorithms import create_algorithm
from harmony_sim.algorithms.context import RunContext
from harmony_sim.data import Dataset
from harmony_sim.devices import DeviceProfile
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.inference.costs import backend_flops, device_seconds, host_backend_seconds
from harmony_sim.inference.requests import (
    RequestOutcome,
    ServerModel,
    TierWorkload,
    draw_requests,
    outcome_figures,
    simulate,
)
from harmony_sim.models import ArchSpec
from harmony_sim.network import client_link
from harmony_sim.network.codecs import Codec, payload_bytes
from harmony_sim.scenario import Scenario

ALL_TIERS = "all"


@dataclass
class StudySetup:
    """Tiers (without links: those depend on the condition), the server, and per-tier costs."""

    tiers: list[TierWorkload]
    profiles: list[DeviceProfile]
    server: ServerModel
    cut_numel: int


def prepare_study(scenario: Scenario, dataset: Dataset, evals: Sequence[ClientEvaluation],
                  profiles: Mapping[str, DeviceProfile], tier_archs: Mapping[str, ArchSpec],
                  service_s: float | None = None) -> StudySetup:
    """Per-tier device seconds per request, and the server's seconds per request: `service_s`
    if given, else FLOPs / the server profile's GFLOP/s, else the back end timed on this host;
    divided by inference.server.speedup."""
    algorithm = create_algorithm(scenario.algorithm,
                                 RunContext.of(scenario, dataset, tier_archs.values()))
    cfg = scenario.inference.server
    if service_s is None:
        if cfg.profile is not None:
            service_s = backend_flops(algorithm) / (profiles[cfg.profile].compute_gflops * 1e9)
        else:
            service_s = host_backend_seconds(algorithm.backend_module(),
                                             algorithm.context.cut.shape)
    tiers, tier_profiles = [], []
    for tier in scenario.clients.tiers:
        assert tier.profile is not None
        profile = profiles[tier.profile]
        arch = tier_archs[tier.name]  # the fitted one (selection policies pick per device)
        assert any(e.tier == tier.name for e in evals), "checked by load_inference_profiles"
        tiers.append(TierWorkload(
            tier.name, [e for e in evals if e.tier == tier.name],
            device_seconds(algorithm, arch, dataset.input_shape, profile),
            client_link(profile, tier.name, "profile", scenario.network), tier.share))
        tier_profiles.append(profile)
    return StudySetup(tiers, tier_profiles, ServerModel(cfg.workers, service_s / cfg.speedup),
                      algorithm.context.cut.numel)


def tiers_under(setup: StudySetup, scenario: Scenario, condition: str) -> list[TierWorkload]:
    """The tiers with every client's link under a network condition."""
    return [TierWorkload(t.name, t.records, t.device_s,
                         client_link(p, t.name, condition, scenario.network), t.share)
            for t, p in zip(setup.tiers, setup.profiles, strict=True)]


def study_sources(setup: StudySetup, scenario: Scenario) -> int:
    """Request sources of the latency study: inference.sources, else one per evaluated client."""
    return scenario.inference.sources or sum(len(t.records) for t in setup.tiers)


def run_thresholds(setup: StudySetup, scenario: Scenario, condition: str, codec: Codec,
                   sources: int, thresholds_by_tier: Sequence[Sequence[float]]
                   ) -> list[RequestOutcome]:
    """One request draw for (condition, codec, sources), simulated at each threshold vector."""
    inf = scenario.inference
    draws = draw_requests(tiers_under(setup, scenario, condition), sources, inf.request_rate_hz,
                          inf.duration_s, inf.ood_ratio, codec,
                          payload_bytes(setup.cut_numel, codec), inf.response_bytes,
                          scenario.seed, exit_rule(scenario))
    return [simulate(draws, t, setup.server) for t in thresholds_by_tier]


def exit_rule(scenario: Scenario) -> str:
    """The study's exit rule: inference.rule, else the evaluation's."""
    return scenario.inference.rule or scenario.evaluation.exit_rule


def tier_rows(setup: StudySetup, outcome: RequestOutcome) -> list[dict[str, Any]]:
    """Figures per tier plus the 'all' row."""
    rows = [{"tier": t.name, **outcome_figures(outcome, outcome.draws.tier == i)}
            for i, t in enumerate(setup.tiers)]
    return [*rows, {"tier": ALL_TIERS, **outcome_figures(outcome)}]
