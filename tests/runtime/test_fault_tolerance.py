"""A pool actor killed mid-round (SIGKILL, as `kill -9` would) is restarted by Ray, its clients'
state is restored from the driver's copy and the run completes; rounds.csv counts the failure."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import harmony_sim.simulation as simulation
from harmony_sim.results import RunDirectory
from harmony_sim.results.run_directory import PARTICIPATION_FILE, ROUNDS_FILE
from harmony_sim.simulation import run_simulation

KILL_ROUND = 2


def kill_pool_mid_round(monkeypatch: pytest.MonkeyPatch, pool: int = 0) -> list[int]:
    """Make the run's runtime SIGKILL pool `pool`'s process once round KILL_ROUND is under way;
    the pids killed."""
    import ray

    killed: list[int] = []
    make_runtime = simulation.create_runtime

    def runtime_with_killer(*args: Any) -> Any:
        runtime = make_runtime(*args)

        def hook(round_idx: int) -> None:
            if round_idx == KILL_ROUND and not killed:
                pid = ray.get(runtime.pools[pool].pid.remote())  # runs after begin_round
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        runtime.round_started_hook = hook
        return runtime

    monkeypatch.setattr(simulation, "create_runtime", runtime_with_killer)
    return killed


def rounds_csv(run: Path) -> list[dict[str, str]]:
    with open(run / ROUNDS_FILE) as handle:
        return list(csv.DictReader(handle))


def test_killed_pool_is_restarted_and_the_round_rerun(ray_session, tiny_scenario, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sections = {"training": {"rounds": 3}, "clients": {"count": 6, "per_round": 4}}
    reference = run_simulation(tiny_scenario(runtime={"backend": "local", "pool_actors": 2},
                                             **sections),
                               RunDirectory.create(tmp_path / "reference"), show_progress=False)
    killed = kill_pool_mid_round(monkeypatch)
    scenario = tiny_scenario(runtime={"backend": "ray", "pool_actors": 2}, **sections)
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             show_progress=False)
    assert killed, "the hook never ran"
    rows = rounds_csv(tmp_path / "run")
    assert [int(r["actor_failures"]) for r in rows] == [0, 1, 0]
    assert int(rows[KILL_ROUND - 1]["failed_clients"]) > 0
    assert summary["faults"]["actor_failures"] == 1
    # Re-running the round from the restored state gives the run without the failure.
    assert summary["final"] == reference["final"]


def test_drop_policy_counts_the_lost_clients_as_dropped(ray_session, tiny_scenario,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    kill_pool_mid_round(monkeypatch)
    scenario = tiny_scenario(runtime={"backend": "ray", "pool_actors": 2,
                                      "on_actor_failure": "drop"},
                             training={"rounds": 2}, clients={"count": 6, "per_round": 4})
    run = tmp_path / "run"
    run_simulation(scenario, RunDirectory.create(run), show_progress=False)
    row = rounds_csv(run)[KILL_ROUND - 1]
    lost = int(row["failed_clients"])
    assert int(row["actor_failures"]) == 1 and lost > 0
    assert int(row["dropped"]) == lost and int(row["finished"]) == 4 - lost
    with open(run / PARTICIPATION_FILE) as handle:
        assert sum(int(r["dropped"]) for r in csv.DictReader(handle)) == lost
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["round"] for m in metrics] == [0, 1, 2]
