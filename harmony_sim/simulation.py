"""One simulation run, start to end: data -> clients -> runtime -> rounds -> evaluation -> results.
This is the round loop; it talks to the runtime interface and never to an algorithm's insides."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from harmony_sim.console import RoundProgress, console, print_participation, print_summary
from harmony_sim.data import load_dataset
from harmony_sim.devices.report import print_architectures, write_architectures
from harmony_sim.errors import RunFailure
from harmony_sim.evaluation import ClientEvaluation, summarise_evaluations
from harmony_sim.evaluation.hybrid import metric_name, per_client_rows
from harmony_sim.evaluation.skew import cut_skew, probe_indices, server_accuracy_by_arch
from harmony_sim.inference.study import (
    inference_codecs,
    load_inference_profiles,
    print_latency_table,
    run_inference_study,
)
from harmony_sim.loop_state import LoopState
from harmony_sim.participation import COUNT_COLUMNS, Participation, round_counts, tier_totals
from harmony_sim.population import plan_population
from harmony_sim.results import RunDirectory
from harmony_sim.results.checkpoint import CHECKPOINT_FILE, Checkpoint, write_checkpoint
from harmony_sim.results.plots import ACCURACY_PLOT, plot_accuracy_per_round
from harmony_sim.results.run_directory import (
    CLIENTS_FILE,
    PARTICIPANTS_FILE,
    PARTICIPATION_FILE,
    ROUNDS_FILE,
    SUMMARY_FILE,
)
from harmony_sim.round_report import ClientRoundReport
from harmony_sim.runtime import Runtime, create_runtime
from harmony_sim.runtime.faults import RoundFaults
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
                 *COUNT_COLUMNS, "round_time_s", "actor_failures", "failed_clients",
                 "checkpoint_s")
PARTICIPATION_COLUMNS = ("round", "tier", *COUNT_COLUMNS)
PARTICIPANT_COLUMNS = ("round", "client_id", "tier", "outcome", "time_s")


def run_simulation(scenario: Scenario, run_dir: RunDirectory, show_progress: bool = True,
                   runtime: Runtime | None = None,
                   resume: Checkpoint | None = None) -> dict[str, Any]:
    """Run every round (from `resume`'s next round, if given), write the run directory and
    return the summary. Everything that can fail on bad input (profiles, dataset, trace, Ray
    address) is loaded before the first file is written."""
    started = time.perf_counter()
    inference_profiles = load_inference_profiles(scenario)  # fail on a bad profile before training
    dataset = load_dataset(scenario.data, scenario.seed)
    population = plan_population(scenario, dataset)
    clients = population.clients
    eligible = population.client_ids if population.excluded else None
    eval_ids = evaluation_clients(scenario)
    if eligible is not None:
        eval_ids = sorted(set(eval_ids) & set(eligible))
    tier_of = {c.client_id: c.tier for c in clients}  # excluded devices are absent
    participation = Participation(scenario, tier_of, eligible)  # reads the trace
    print_architectures(population.tiers, population.host_gflops)
    own_runtime = runtime is None
    runtime = runtime or create_runtime(scenario, dataset, clients)
    ev_cfg = scenario.evaluation
    every = scenario.output.checkpoint_every
    state = LoopState()
    checkpoints = CheckpointLog()
    try:
        if resume is not None:
            state = LoopState.from_checkpoint(resume)
            runtime.restore_state(resume.runtime)
        run_dir.write_scenario(scenario)
        if resume is not None:
            run_dir.rewrite_metrics(state.rows)
            console.print(f"resuming {run_dir.path} after round {resume.round}")
        else:
            state.initial = state.latest = _evaluate(runtime, eval_ids, scenario)
            state.rows.append({"round": 0, **state.initial,
                               **_fault_counts(runtime, 0, RoundFaults())})
            run_dir.append_metrics(state.rows[-1])
            state.finish(0, runtime.export_state())
        _report_faults(runtime, 0)
        with RoundProgress(scenario.training.rounds, f"{scenario.name} [{scenario.algorithm.name}]",
                           enabled=show_progress, done=state.next_round - 1) as progress:
            for round_idx in range(state.next_round, scenario.training.rounds + 1):
                round_started = time.perf_counter()
                seen_faults = len(runtime.fault_log)
                _transition(round_idx, RoundState.SELECTING)
                plan = participation.plan_round(round_idx)
                _transition(round_idx, RoundState.TRAINING)
                reports = runtime.run_round(
                    round_idx, plan.training, scenario.participation.deadline_s,
                    participation.accept if participation.holds_updates else None)
                faults = runtime.last_faults
                if faults.dropped:  # lost to a dead actor under on_actor_failure: drop
                    plan = replace(plan, dropped=plan.dropped | frozenset(faults.dropped))
                outcome = participation.close_round(plan, reports)
                per_tier = participation.tier_counts(plan, outcome)
                state.tier_rows.extend({"round": round_idx, "tier": t, **c}
                                       for t, c in per_tier.items())
                state.client_rows.extend(
                    {"round": round_idx, "client_id": cid, "tier": tier_of[cid],
                     "outcome": outcome.outcome[cid], "time_s": outcome.time_s.get(cid)}
                    for cid in plan.selected)
                row: dict[str, Any] = {"round": round_idx, **_round_figures(reports),
                                       **round_counts(per_tier, outcome), "tiers": per_tier}
                if _evaluation_due(round_idx, scenario):
                    _transition(round_idx, RoundState.EVALUATING)
                    state.latest = _evaluate(runtime, eval_ids, scenario)
                    row.update(state.latest)
                _transition(round_idx, RoundState.RECORDING)
                row.update(_fault_counts(runtime, seen_faults, faults))
                row["wall_s"] = time.perf_counter() - round_started
                state.rows.append(row)
                state.finish(round_idx, runtime.export_state())
                if every > 0 and (round_idx % every == 0
                                  or round_idx == scenario.training.rounds):
                    row["checkpoint_s"] = checkpoints.write(run_dir, state, scenario)
                run_dir.append_metrics(row)
                _report_faults(runtime, seen_faults)
                progress.advance(_status(row, state.latest, ev_cfg.ood_ratios))
                _transition(round_idx, RoundState.DONE)
        seen_faults = len(runtime.fault_log)
        final_evals = runtime.evaluate(eval_ids, inference_codecs(scenario))
        probe = runtime.cut_features(eval_ids, probe_indices(len(dataset.test_y), scenario.seed))
        _report_faults(runtime, seen_faults)
        final_faults = len(runtime.fault_log) - seen_faults
    except (KeyboardInterrupt, RunFailure):
        if every > 0:  # the last finished round, so --resume continues from there
            checkpoints.write(run_dir, state, scenario)
        raise
    finally:
        if own_runtime:
            runtime.close()
    rows = state.rows
    run_dir.write_table(PARTICIPATION_FILE, PARTICIPATION_COLUMNS, state.tier_rows)
    run_dir.write_table(PARTICIPANTS_FILE, PARTICIPANT_COLUMNS, state.client_rows)
    summary = _write_outputs(scenario, run_dir, rows, final_evals, state.initial,
                             time.perf_counter() - started,
                             {**cut_skew(probe), **server_accuracy_by_arch(final_evals)},
                             extra={"resumed_from_round": state.resumed_from,
                                    "faults": _fault_totals(scenario, rows, final_faults),
                                    "checkpoints": checkpoints.summary()})
    summary["participation"] = tier_totals(state.tier_rows)
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


class CheckpointLog:
    """Writes checkpoints of the last finished round and keeps their sizes and times."""

    def __init__(self) -> None:
        self.count = 0
        self.last_s = 0.0
        self.max_s = 0.0
        self.last_mb = 0.0
        self.last_round: int | None = None

    def write(self, run_dir: RunDirectory, state: LoopState, scenario: Scenario) -> float | None:
        checkpoint = state.checkpoint(scenario)
        if checkpoint is None or checkpoint.round == self.last_round:
            return None
        seconds = write_checkpoint(run_dir.ensure(), checkpoint)
        self.count += 1
        self.last_s, self.max_s = seconds, max(self.max_s, seconds)
        self.last_mb = run_dir.file(CHECKPOINT_FILE).stat().st_size / 1e6
        self.last_round = checkpoint.round
        log.info("checkpoint after round %d: %.1f MB in %.2f s", checkpoint.round, self.last_mb,
                 seconds)
        return seconds

    def summary(self) -> dict[str, Any]:
        return {"written": self.count, "last_round": self.last_round, "last_mb": self.last_mb,
                "last_s": self.last_s, "max_s": self.max_s}


def _fault_counts(runtime: Runtime, seen: int, faults: RoundFaults) -> dict[str, int]:
    """Actor deaths since `seen` events (training and evaluation) and the participants whose
    round they cost."""
    return {"actor_failures": len(runtime.fault_log) - seen,
            "failed_clients": len(faults.failed_clients)}


def _report_faults(runtime: Runtime, seen: int) -> None:
    for event in runtime.fault_log[seen:]:
        console.print(f"[yellow]{event.describe()}[/yellow]")


def _fault_totals(scenario: Scenario, rows: Sequence[dict[str, Any]],
                  after_rounds: int) -> dict[str, Any]:
    """Actor deaths over the run (rows, plus `after_rounds` during the final evaluation)."""
    return {"policy": scenario.runtime.on_actor_failure,
            "actor_failures": sum(int(r.get("actor_failures", 0)) for r in rows) + after_rounds,
            "failed_clients": sum(int(r.get("failed_clients", 0)) for r in rows)}


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
                   wall_s: float, skew: dict[str, float] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
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
        **(extra or {}),
    }
    run_dir.write_json(SUMMARY_FILE, summary)
    if scenario.output.plots:
        plot_accuracy_per_round(rows, ev_cfg.ood_ratios, run_dir.file(ACCURACY_PLOT))
    return summary
