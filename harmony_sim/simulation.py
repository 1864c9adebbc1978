"""One simulation run, start to end: data -> clients -> runtime -> rounds -> evaluation -> results.
This is the round loop; it talks to the runtime interface and never to an algorithm's insides,
and hands what it produces to the outputs (harmony_sim/outputs), which write and show it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from typing import Any

from harmony_sim.data import load_dataset
from harmony_sim.devices.report import tier_rows
from harmony_sim.errors import RunFailure
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.evaluation.hybrid import ACCURACY_METRICS, mean_of_rows, per_client_rows
from harmony_sim.evaluation.skew import cut_skew, probe_indices, server_accuracy_by_arch
from harmony_sim.inference.profiles import inference_codecs, load_inference_profiles
from harmony_sim.inference.study import StudyResult, run_inference_study
from harmony_sim.loop_state import LoopState
from harmony_sim.outputs import RunEnd, RunOutput, RunStart, default_outputs
from harmony_sim.participation import Participation, round_counts, tier_totals
from harmony_sim.population import Population, plan_population
from harmony_sim.results import RunDirectory
from harmony_sim.results.checkpoint import CHECKPOINT_FILE, Checkpoint, write_checkpoint
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


def run_simulation(scenario: Scenario, run_dir: RunDirectory, show_progress: bool = True,
                   runtime: Runtime | None = None, resume: Checkpoint | None = None,
                   outputs: Sequence[RunOutput] | None = None) -> dict[str, Any]:
    """Run every round (from `resume`'s next round, if given), hand each round and the end of
    the run to `outputs` (default: default_outputs) and return the summary. Everything that
    can fail on bad input (profiles, dataset, trace, Ray address) is loaded before the first
    file is written."""
    started = time.perf_counter()
    inference_profiles = load_inference_profiles(scenario)  # a bad profile fails here
    with _step(f"data: {scenario.data.dataset}") as note:
        dataset = load_dataset(scenario.data, scenario.seed)
        note(f"{len(dataset.train_y)} train / {len(dataset.test_y)} test samples, "
             f"{dataset.num_classes} classes")
    with _step("population and architectures") as note:
        population = plan_population(scenario, dataset)
        note(f"{len(population.clients)} clients, "
             + ", ".join(f"{t.tier}: {t.arch.id if t.arch else 'excluded'}"
                         for t in population.tiers))
    clients = population.clients
    eligible = population.client_ids if population.excluded else None
    eval_ids = evaluation_clients(scenario)
    if eligible is not None:
        eval_ids = sorted(set(eval_ids) & set(eligible))
    tier_of = {c.client_id: c.tier for c in clients}  # excluded devices are absent
    participation = Participation(scenario, tier_of, eligible)  # reads the trace
    outputs = list(outputs) if outputs is not None else default_outputs(scenario, show_progress)
    own_runtime = runtime is None
    if runtime is None:
        with _step(f"runtime: {scenario.runtime.backend}"):
            runtime = create_runtime(scenario, dataset, clients)
    every = scenario.output.checkpoint_every
    final_evals: list[ClientEvaluation] | None = None
    final_rows: list[dict[str, Any]] = []  # their per-client metrics (clients.csv)
    state = LoopState()
    checkpoints = CheckpointLog()
    try:
        if resume is not None:
            state = LoopState.from_checkpoint(resume)
            runtime.restore_state(resume.runtime)
            log.info("resuming %s after round %d", run_dir.path, resume.round)
        run_dir.write_scenario(scenario)
        _call(outputs, "run_started", RunStart(scenario, run_dir, population, list(state.rows),
                                               state.resumed_from))
        if resume is None:
            with _step("round 0 evaluation"):
                state.initial = _figures(_client_rows(runtime.evaluate(eval_ids), scenario))
            state.rows.append({"round": 0, **state.initial,
                               **_fault_counts(runtime, 0, RoundFaults())})
            state.finish(0, runtime.export_state())
            _call(outputs, "round_finished", state.rows[-1])
        _report_faults(runtime, 0)
        log.info("ready in %.1f s; training %d rounds", time.perf_counter() - started,
                 scenario.training.rounds - state.next_round + 1)
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
            if evaluation_due(round_idx, scenario):
                _transition(round_idx, RoundState.EVALUATING)
                evaluated = time.perf_counter()
                last = round_idx == scenario.training.rounds
                # The last round's evaluation is the final one (with the study's codecs).
                evals = runtime.evaluate(eval_ids, inference_codecs(scenario) if last else ())
                rows = _client_rows(evals, scenario)
                if last:
                    final_evals, final_rows = evals, rows
                row.update(_figures(rows), eval_s=time.perf_counter() - evaluated)
            _transition(round_idx, RoundState.RECORDING)
            row.update(_fault_counts(runtime, seen_faults, faults))
            row["wall_s"] = time.perf_counter() - round_started
            state.rows.append(row)
            state.finish(round_idx, runtime.export_state())
            if every > 0 and (round_idx % every == 0 or round_idx == scenario.training.rounds):
                row["checkpoint_s"] = checkpoints.write(run_dir, state, scenario)
            _call(outputs, "round_finished", row)
            _report_faults(runtime, seen_faults)
            _transition(round_idx, RoundState.DONE)
        seen_faults = len(runtime.fault_log)
        with _step("final evaluation"):
            if final_evals is None:  # resumed after the last round
                final_evals = runtime.evaluate(eval_ids, inference_codecs(scenario))
                final_rows = _client_rows(final_evals, scenario)
            probe = runtime.cut_features(eval_ids,
                                         probe_indices(len(dataset.test_y), scenario.seed))
        _report_faults(runtime, seen_faults)
        final_faults = len(runtime.fault_log) - seen_faults
    except (KeyboardInterrupt, RunFailure):
        if every > 0:  # the last finished round, so --resume continues from there
            checkpoints.write(run_dir, state, scenario)
        _call(outputs, "close")
        raise
    except BaseException:
        _call(outputs, "close")
        raise
    finally:
        if own_runtime:
            runtime.close()
    study: StudyResult | None = None
    if scenario.inference.enabled:
        with _step("latency study"):
            study = run_inference_study(scenario, dataset, final_evals, inference_profiles,
                                        {t.tier: t.arch for t in population.tiers if t.arch})
    summary = run_summary(scenario, population, state, final_rows,
                          time.perf_counter() - started,
                          {**cut_skew(probe), **server_accuracy_by_arch(final_evals)},
                          faults=_fault_totals(scenario, state.rows, final_faults),
                          checkpoints=checkpoints.summary(), study=study)
    end = RunEnd(scenario, run_dir, population, state.rows, state.tier_rows, state.client_rows,
                 final_rows, summary, study)
    try:
        _call(outputs, "run_finished", end)
    finally:
        _call(outputs, "close")
    return summary


def run_summary(scenario: Scenario, population: Population, state: LoopState,
                final_rows: Sequence[dict[str, Any]], wall_s: float, skew: dict[str, float],
                faults: dict[str, Any], checkpoints: dict[str, Any],
                study: StudyResult | None) -> dict[str, Any]:
    """summary.json: the final figures, what produced them, and how the run went."""
    ev_cfg = scenario.evaluation
    evaluated = [r for r in state.rows if "eval_s" in r]
    summary = {
        "scenario": scenario.name,
        "algorithm": scenario.algorithm.name,
        "seed": scenario.seed,
        "rounds": scenario.training.rounds,
        "clients": scenario.clients.count,
        "evaluated_clients": len(final_rows),
        "exit_rule": ev_cfg.exit_rule,
        "exit_threshold": ev_cfg.exit_threshold,
        "ood_ratios": ev_cfg.ood_ratios,
        "initial": state.initial,
        "final": mean_of_rows(final_rows),
        "wall_s": wall_s,
        # What the learning curve costs: evaluations during training and their seconds.
        "evaluations": {"rounds": [r["round"] for r in evaluated],
                        "seconds": sum(r["eval_s"] for r in evaluated)},
        "skew": skew,
        "resumed_from_round": state.resumed_from,
        "faults": faults,
        "checkpoints": checkpoints,
        "participation": tier_totals(state.tier_rows),
        "architectures": tier_rows(population.tiers),
        "excluded_clients": population.excluded,
        "host_gflops": population.host_gflops,
    }
    if study is not None:
        summary["inference"] = study.summary
    return summary


def evaluation_due(round_idx: int, scenario: Scenario) -> bool:
    """Evaluate at the last round and every evaluation.every rounds (null: about 10 times)."""
    rounds, every = scenario.training.rounds, scenario.evaluation.every
    if every is None:
        every = math.ceil(rounds / 10)
    return round_idx == rounds or (every > 0 and round_idx % every == 0)


@contextmanager
def _step(what: str) -> Iterator[Any]:
    """Log a start-up or closing step with what it found and how long it took."""
    notes: list[str] = []
    began = time.perf_counter()
    log.debug("%s ...", what)
    yield notes.append
    detail = f": {'; '.join(notes)}" if notes else ""
    log.info("%s%s (%.1f s)", what, detail, time.perf_counter() - began)


def _call(outputs: Sequence[RunOutput], hook: str, *args: Any) -> None:
    for output in outputs:
        getattr(output, hook)(*args)


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
        log.warning("%s", event.describe())


def _fault_totals(scenario: Scenario, rows: Sequence[dict[str, Any]],
                  after_rounds: int) -> dict[str, Any]:
    """Actor deaths over the run (rows, plus `after_rounds` during the final evaluation)."""
    return {"policy": scenario.runtime.on_actor_failure,
            "actor_failures": sum(int(r.get("actor_failures", 0)) for r in rows) + after_rounds,
            "failed_clients": sum(int(r.get("failed_clients", 0)) for r in rows)}


def _transition(round_idx: int, state: RoundState) -> None:
    log.debug("round %d -> %s", round_idx, state.value)


def _client_rows(evals: Sequence[ClientEvaluation], scenario: Scenario) -> list[dict[str, Any]]:
    ev = scenario.evaluation
    return per_client_rows(evals, ev.ood_ratios, ev.exit_threshold, ev.exit_rule)


def _figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over the evaluated clients, and per tier the accuracy figures (tier_metrics)."""
    figures: dict[str, Any] = mean_of_rows(rows)
    tiers = sorted({r["tier"] for r in rows})
    if len(tiers) > 1:
        figures["tier_metrics"] = {
            tier: {k: v for k, v in mean_of_rows([r for r in rows if r["tier"] == tier]).items()
                   if k.startswith(ACCURACY_METRICS)}
            for tier in tiers}
    return figures


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
