"""The latency study at the end of a run: per-tier latency, fallback rate and accuracy swept over
network conditions x codecs x exit thresholds; a load sweep over the number of active clients;
and, with an SLO, each tier's threshold chosen to meet a p95 target at the best accuracy.

Request sources replay the evaluated clients' per-sample records (exit/server predictions,
exit-rule scores), so any number of simulated clients reuses a few evaluated ones: source j of
a tier replays that tier's evaluated client j mod n. Only the codec comparison re-runs a model
(the server back end on each codec's decoded cut, during the final evaluation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harmony_sim.data import Dataset
from harmony_sim.devices import DeviceProfile, load_profile
from harmony_sim.errors import UserInputError
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.inference.codecs import Codec, payload_bytes
from harmony_sim.inference.costs import backend_flops, device_seconds, host_backend_seconds
from harmony_sim.inference.requests import (
    RequestOutcome,
    ServerModel,
    TierWorkload,
    draw_requests,
    outcome_figures,
    simulate,
)
from harmony_sim.network import client_link
from harmony_sim.population import assign_tiers, tier_architecture
from harmony_sim.results import RunDirectory
from harmony_sim.results.run_directory import (
    LATENCY_SLO_FILE,
    LATENCY_STUDY_FILE,
    SERVER_LOAD_FILE,
)
from harmony_sim.scenario import Scenario
from harmony_sim.selection import evaluation_clients

ALL_TIERS = "all"
STUDY_COLUMNS = ("condition", "codec", "threshold", "tier", "requests", "p50_ms", "p95_ms",
                 "p99_ms", "mean_ms", "fallback_rate", "accuracy", "queue_ms", "uplink_bytes")
LOAD_COLUMNS = ("clients", "offered_hz", "utilisation", *STUDY_COLUMNS[3:])
SLO_COLUMNS = ("condition", "codec", "tier", "slo_p95_ms", "threshold", "met", "p95_ms",
               "p50_ms", "p99_ms", "fallback_rate", "accuracy")


def inference_codecs(scenario: Scenario) -> list[Codec]:
    """Lossy codecs the final evaluation must run the server on (none when the study is off)."""
    if not scenario.inference.enabled:
        return []
    return [c for c in scenario.inference.codecs if c != "fp32"]


def load_inference_profiles(scenario: Scenario) -> dict[str, DeviceProfile]:
    """Every device profile the study needs, loaded up front so a bad profile (or a tier with no
    evaluated client to replay) fails the run before training with a one-line UserInputError."""
    if not scenario.inference.enabled:
        return {}
    tiers = scenario.clients.tiers
    if not tiers:
        raise UserInputError("inference.enabled: the latency study needs clients.tiers, each "
                             "with a device profile (e.g. {name: low, share: 1, profile: "
                             "raspberry_pi_4})")
    names = []
    for i, tier in enumerate(tiers):
        if tier.profile is None:
            raise UserInputError(f"clients.tiers.{i}.profile: the latency study needs a device "
                                 f"profile for tier {tier.name!r}")
        names.append(tier.profile)
    unknown = sorted(set(scenario.network.tiers) - {t.name for t in tiers})
    if unknown:
        raise UserInputError(f"network.tiers: unknown tier(s) {', '.join(unknown)}; tiers are: "
                             f"{', '.join(t.name for t in tiers)}")
    evaluated_ids = set(evaluation_clients(scenario))
    evaluated = {t.name for cid, t in enumerate(assign_tiers(scenario))
                 if t is not None and cid in evaluated_ids}
    missing = [t.name for t in tiers if t.name not in evaluated]
    if missing:
        raise UserInputError(f"evaluation.max_clients: no client of tier(s) {', '.join(missing)} "
                             "is evaluated, and the latency study replays evaluated clients; "
                             "raise evaluation.max_clients or the tier's share")
    if scenario.inference.server.profile is not None:
        names.append(scenario.inference.server.profile)
    return {name: load_profile(name) for name in names}


@dataclass
class StudySetup:
    """Tiers (without links: those depend on the condition), the server, and per-tier costs."""

    tiers: list[TierWorkload]
    profiles: list[DeviceProfile]
    server: ServerModel
    cut_numel: int


def prepare_study(scenario: Scenario, dataset: Dataset, evals: Sequence[ClientEvaluation],
                  profiles: Mapping[str, DeviceProfile],
                  service_s: float | None = None) -> StudySetup:
    """Per-tier device seconds per request, and the server's seconds per request: `service_s`
    if given, else FLOPs / the server profile's GFLOP/s, else the back end timed on this host;
    divided by inference.server.speedup."""
    from harmony_sim.algorithms import create_algorithm
    from harmony_sim.runtime.client_pool import model_context

    algorithm = create_algorithm(scenario, model_context(scenario, dataset))
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
        arch = tier_architecture(scenario, tier)
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


def _run(setup: StudySetup, scenario: Scenario, condition: str, codec: Codec, sources: int,
         thresholds_by_tier: Sequence[Sequence[float]]) -> list[RequestOutcome]:
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


def latency_study(setup: StudySetup, scenario: Scenario) -> list[dict[str, Any]]:
    """Rows of STUDY_COLUMNS: every condition x codec x threshold x tier."""
    inf = scenario.inference
    sources = study_sources(setup, scenario)
    rows = []
    for condition in scenario.network.conditions:
        for codec in inf.codecs:
            vectors = [[th] * len(setup.tiers) for th in inf.thresholds]
            outcomes = _run(setup, scenario, condition, codec, sources, vectors)
            for th, outcome in zip(inf.thresholds, outcomes, strict=True):
                rows += [{"condition": condition, "codec": codec, "threshold": th, **r}
                         for r in tier_rows(setup, outcome)]
    return rows


def load_sweep(setup: StudySetup, scenario: Scenario) -> list[dict[str, Any]]:
    """Rows of LOAD_COLUMNS: latency against the number of active clients (first condition and
    codec, inference.load_threshold), with the server's offered load and utilisation."""
    inf = scenario.inference
    threshold = inf.load_threshold if inf.load_threshold is not None else inf.thresholds[0]
    rows = []
    for clients in inf.load_clients:
        (outcome,) = _run(setup, scenario, scenario.network.conditions[0], inf.codecs[0],
                          clients, [[threshold] * len(setup.tiers)])
        offered = float(outcome.fallback.sum()) / inf.duration_s
        load = {"clients": clients, "offered_hz": offered,
                "utilisation": offered / setup.server.capacity_hz}
        rows += [{**load, **r} for r in tier_rows(setup, outcome)]
    return rows


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
            (outcome,) = _run(setup, scenario, condition, codec, sources, [chosen])
            for th, row in zip([*chosen, float("nan")], tier_rows(setup, outcome), strict=True):
                met = row.get("p95_ms", float("inf")) <= inf.slo_p95_ms
                rows.append({"condition": condition, "codec": codec, "slo_p95_ms":
                             inf.slo_p95_ms, "threshold": th, "met": met, **row})
    return rows


def headline_rows(scenario: Scenario, study: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per condition and tier at the first codec and the base threshold (load_threshold, else
    the first threshold; the nearest swept one)."""
    inf = scenario.inference
    base = inf.load_threshold if inf.load_threshold is not None else inf.thresholds[0]
    nearest = min(inf.thresholds, key=lambda t: abs(t - base))
    return [r for r in study if r["codec"] == inf.codecs[0] and r["threshold"] == nearest]


def print_latency_table(summary: Mapping[str, Any]) -> None:
    """The headline figures as one console table."""
    from rich.table import Table

    from harmony_sim.console import console

    rows = summary["headline"]
    title = (f"fallback inference ({rows[0]['codec']}, threshold {rows[0]['threshold']:g}; "
             f"server {summary['workers']} x {summary['service_ms']:.3g} ms)") if rows else ""
    columns = ("condition", "tier", "p50_ms", "p95_ms", "p99_ms", "fallback_rate", "accuracy")
    tables = [(title, columns, rows)]
    if "slo" in summary:
        codec = summary["slo"][0]["codec"]
        tables.append((f"SLO p95 <= {summary['slo'][0]['slo_p95_ms']:g} ms ({codec}): "
                       "threshold picked per tier", ("condition", "tier", "threshold", "met",
                                                     "p95_ms", "fallback_rate", "accuracy"),
                       [r for r in summary["slo"] if r["codec"] == codec]))
    for caption, names, content in tables:
        table = Table(title=caption)
        for name in names:
            table.add_column(name, justify="left" if name in ("condition", "tier") else "right")
        for r in content:
            table.add_row(*(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "-"))
                            for c in names))
        console.print(table)


def run_inference_study(scenario: Scenario, dataset: Dataset, evals: Sequence[ClientEvaluation],
                        profiles: Mapping[str, DeviceProfile],
                        run_dir: RunDirectory) -> dict[str, Any]:
    """Run the study, write its CSVs and plots into the run directory, return a summary."""
    from harmony_sim.results.latency_plots import (
        plot_latency_cdf,
        plot_latency_pareto,
        plot_server_load,
    )

    setup = prepare_study(scenario, dataset, evals, profiles)
    study = latency_study(setup, scenario)
    run_dir.write_table(LATENCY_STUDY_FILE, STUDY_COLUMNS, study)
    summary: dict[str, Any] = {
        "service_ms": setup.server.service_s * 1e3, "workers": setup.server.workers,
        "capacity_hz": setup.server.capacity_hz,
        "device_ms": {t.name: t.device_s * 1e3 for t in setup.tiers},
        "headline": headline_rows(scenario, study)}
    if scenario.output.plots:
        plot_latency_pareto(study, run_dir, f"{scenario.name}: {scenario.algorithm.name}, "
                            "accuracy against fallback latency per tier")
        inf = scenario.inference
        threshold = headline_rows(scenario, study)[0]["threshold"]
        sources = study_sources(setup, scenario)
        outcomes = {c: _run(setup, scenario, c, inf.codecs[0], sources,
                            [[threshold] * len(setup.tiers)])[0]
                    for c in scenario.network.conditions}
        plot_latency_cdf(outcomes, [t.name for t in setup.tiers],
                         f"latency CDF per tier ({inf.codecs[0]}, threshold {threshold:g})",
                         run_dir)
    if scenario.inference.load_clients:
        load = load_sweep(setup, scenario)
        run_dir.write_table(SERVER_LOAD_FILE, LOAD_COLUMNS, load)
        if scenario.output.plots:
            plot_server_load(load, setup.server, scenario, run_dir)
        summary["load"] = [{k: r.get(k) for k in ("clients", "utilisation", "p95_ms")}
                           for r in load if r["tier"] == ALL_TIERS]
    if scenario.inference.slo_p95_ms is not None:
        slo = slo_choice(setup, scenario, study)
        run_dir.write_table(LATENCY_SLO_FILE, SLO_COLUMNS, slo)
        summary["slo"] = slo
    return summary
