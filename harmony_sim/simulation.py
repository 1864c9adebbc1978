"""One simulation run, start to end: data -> clients -> runtime -> rounds -> evaluation -> results.
This is the round loop; it talks to the runtime interface and never to an algorithm's insides."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from enum import Enum
from typing import Any

from harmony_sim.console import RoundProgress, console, print_participation, print_summary
from harmony_sim.data import load_dataset
from harmony_sim.devices.report import print_architectures, write_architectures
from harmony_sim.evaluation import ClientEvaluation, summarise_evaluations
from harmony_sim.evaluation.hybrid import metric_name, per_client_rows
from harmony_sim.evaluation.skew import cut_skew, probe_indices, server_accuracy_by_arch
from harmony_sim.inference.study import (
    inference_codecs,
    load_inference_profiles,
    print_latency_table,
    run_inference_study,
)
from harmony_sim.participation import COUNT_COLUMNS, Participation, round_counts, tier_totals
from harmony_sim.population import plan_population
from harmony_sim.results import RunDirectory
from harmony_sim.results.plots import ACCURACY_PLOT, plot_accuracy_per_round
from harmony_sim.results.run_directory import (
    CLIENTS_FILE,
    PARTICIPANTS_FILE,
    PARTICIPATION_FILE,
    ROUNDS_FILE,
    SUMMARY_FILE,
)
from harmony_sim.runtime import ClientRoundReport, Runtime, create_runtime
from harmony_sim.scenario import Scenario
from harmony_sim.selection import evaluation_clients

log = logging.getLogger(__name__)


class RoundState(Enum):
    """The lifecycle of one round, logged on every transition."""

    SELECTING = "selecting"
    TRAINING = "training"
    EVALUATING = "evaluating"
    RECORDING = "recording"
    DONE = "done"


ROUND_COLUMNS = ("round", "participants", "samples", "exit_loss", "server_loss",
                 "uplink_mb", "downlink_mb", "compute_s", "wall_s", "device_s", "device_max_s",
                 *COUNT_COLUMNS, "round_time_s")
PARTICIPATION_COLUMNS = ("round", "tier", *COUNT_COLUMNS)
PARTICIPANT_COLUMNS = ("round", "client_id", "tier", "outcome", "time_s")


def run_simulation(scenario: Scenario, run_dir: RunDirectory, show_progress: bool = True,
                   runtime: Runtime | None = None) -> dict[str, Any]:
    """Run every round, write the run directory and return the summary."""
    started = time.perf_counter()
    run_dir.write_scenario(scenario)
    inference_profiles = load_inference_profiles(scenario)  # fail on a bad profile before training
    dataset = load_dataset(scenario.data, scenario.seed)
    population = plan_population(scenario, dataset)
    clients = population.clients
    print_architectures(population.tiers, population.host_gflops)
    eligible = population.client_ids if population.excluded else None
    own_runtime = runtime is None
    runtime = runtime or create_runtime(scenario, dataset, clients)
    ev_cfg = scenario.evaluation
    eval_ids = evaluation_clients(scenario)
    if eligible is not None:
        eval_ids = sorted(set(eval_ids) & set(eligible))
    tier_of = {c.client_id: c.tier for c in clients}  # excluded devices are absent
    participation = Participation(scenario, tier_of, eligible)
    tier_rows: list[dict[str, Any]] = []
    client_rows: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    try:
        initial = _evaluate(runtime, eval_ids, scenario)
        rows.append({"round": 0, **initial})
        run_dir.append_metrics(rows[-1])
        latest = initial
        with RoundProgress(scenario.training.rounds, f"{scenario.name} [{scenario.algorithm.name}]",
                           enabled=show_progress) as progress:
            for round_idx in range(1, scenario.training.rounds + 1):
                round_started = time.perf_counter()
                _transition(round_idx, RoundState.SELECTING)
                plan = participation.plan_round(round_idx)
                _transition(round_idx, RoundState.TRAINING)
                reports = runtime.run_round(
                    round_idx, plan.training, scenario.participation.deadline_s,
                    participation.accept if participation.holds_updates else None)
                outcome = participation.close_round(plan, reports)
                per_tier = participation.tier_counts(plan, outcome)
                tier_rows.extend({"round": round_idx, "tier": t, **c} for t, c in per_tier.items())
                client_rows.extend(
                    {"round": round_idx, "client_id": cid, "tier": tier_of[cid],
                     "outcome": outcome.outcome[cid], "time_s": outcome.time_s.get(cid)}
                    for cid in plan.selected)
                row: dict[str, Any] = {"round": round_idx, **_round_figures(reports),
                                       **round_counts(per_tier, outcome), "tiers": per_tier}
                if _evaluation_due(round_idx, scenario):
                    _transition(round_idx, RoundState.EVALUATING)
                    latest = _evaluate(runtime, eval_ids, scenario)
                    row.update(latest)
                _transition(round_idx, RoundState.RECORDING)
                row["wall_s"] = time.perf_counter() - round_started
                rows.append(row)
                run_dir.append_metrics(row)
                progress.advance(_status(row, latest, ev_cfg.ood_ratios))
                _transition(round_idx, RoundState.DONE)
        final_evals = runtime.evaluate(eval_ids, inference_codecs(scenario))
        probe = runtime.cut_features(eval_ids, probe_indices(len(dataset.test_y), scenario.seed))
    finally:
        if own_runtime:
            runtime.close()
    run_dir.write_table(PARTICIPATION_FILE, PARTICIPATION_COLUMNS, tier_rows)
    run_dir.write_table(PARTICIPANTS_FILE, PARTICIPANT_COLUMNS, client_rows)
    summary = _write_outputs(scenario, run_dir, rows, final_evals, initial,
                             time.perf_counter() - started,
                             {**cut_skew(probe), **server_accuracy_by_arch(final_evals)})
    summary["participation"] = tier_totals(tier_rows)
    if scenario.inference.enabled:
        summary["inference"] = run_inference_study(scenario, dataset, final_evals,
                                                   inference_profiles, run_dir)
        print_latency_table(summary["inference"])
    write_architectures(run_dir, population, summary)  # also rewrites summary.json
    print_participation(summary["participation"])
    print_summary(f"{scenario.name}: {scenario.algorithm.name}, {scenario.training.rounds} rounds "
                  f"(mean over {len(final_evals)} clients)", summary["final"], ev_cfg.ood_ratios)
    console.print(f"results: {run_dir.path}")
    return summary


def _transition(round_idx: int, state: RoundState) -> None:
    log.debug("round %d -> %s", round_idx, state.value)


def _evaluation_due(round_idx: int, scenario: Scenario) -> bool:
    every = scenario.evaluation.every
    return round_idx == scenario.training.rounds or (every > 0 and round_idx % every == 0)


def _evaluate(runtime: Runtime, client_ids: Sequence[int], scenario: Scenario) -> dict[str, float]:
    evals = runtime.evaluate(client_ids)
    ev_cfg = scenario.evaluation
    return summarise_evaluations(evals, ev_cfg.ood_ratios, ev_cfg.exit_threshold,
                                 ev_cfg.exit_rule)


def _round_figures(reports: Sequence[ClientRoundReport]) -> dict[str, float]:
    batches = max(sum(r.batches for r in reports), 1)
    return {
        "participants": len(reports),
        "samples": sum(r.samples for r in reports),
        "exit_loss": sum(r.exit_loss * r.batches for r in reports) / batches,
        "server_loss": sum(r.server_loss * r.batches for r in reports) / batches,
        "uplink_mb": sum(r.uplink_bytes for r in reports) / 1e6,
        "downlink_mb": sum(r.downlink_bytes for r in reports) / 1e6,
        "compute_s": sum(r.compute_s for r in reports),
        "device_s": sum(r.device_s for r in reports),  # simulated device compute, all clients
        "device_max_s": max((r.device_s for r in reports), default=0.0),  # the slowest device
    }


def _status(row: dict[str, Any], latest: dict[str, float], ratios: Sequence[float]) -> str:
    key = metric_name("hybrid_acc", 0.5 if 0.5 in ratios else ratios[-1])
    return f"loss {row['exit_loss']:.3f}  {key} {latest.get(key, float('nan')):.3f}"


def _write_outputs(scenario: Scenario, run_dir: RunDirectory, rows: list[dict[str, Any]],
                   final_evals: Sequence[ClientEvaluation], initial: dict[str, float],
                   wall_s: float, skew: dict[str, float] | None = None) -> dict[str, Any]:
    ev_cfg = scenario.evaluation
    client_rows = per_client_rows(final_evals, ev_cfg.ood_ratios, ev_cfg.exit_threshold,
                                  ev_cfg.exit_rule)
    run_dir.write_table(CLIENTS_FILE, list(client_rows[0]), client_rows)
    run_dir.write_table(ROUNDS_FILE, ROUND_COLUMNS, rows[1:])
    final = summarise_evaluations(final_evals, ev_cfg.ood_ratios, ev_cfg.exit_threshold,
                                  ev_cfg.exit_rule)
    summary = {
        "scenario": scenario.name,
        "algorithm": scenario.algorithm.name,
        "seed": scenario.seed,
        "rounds": scenario.training.rounds,
        "clients": scenario.clients.count,
        "evaluated_clients": len(final_evals),
        "exit_rule": ev_cfg.exit_rule,
        "exit_threshold": ev_cfg.exit_threshold,
        "ood_ratios": ev_cfg.ood_ratios,
        "initial": initial,
        "final": final,
        "wall_s": wall_s,
        "skew": skew or {},
    }
    run_dir.write_json(SUMMARY_FILE, summary)
    if scenario.output.plots:
        plot_accuracy_per_round(rows, ev_cfg.ood_ratios, run_dir.file(ACCURACY_PLOT))
    return summary
