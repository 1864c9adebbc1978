"""Whole runs: a tiny Ray run learns; seeded runs reproduce; the run directory is complete."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harmony_sim.errors import UserInputError
from harmony_sim.results import RunDirectory
from harmony_sim.results.run_directory import (
    CLIENTS_FILE,
    METRICS_FILE,
    ROUNDS_FILE,
    SCENARIO_FILE,
    SUMMARY_FILE,
)
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.simulation import run_simulation


def test_tiny_ray_run_improves_over_round_0(ray_session, tiny_scenario, tmp_path: Path) -> None:
    scenario = tiny_scenario(runtime={"backend": "ray", "pool_actors": 2},
                             training={"rounds": 4})
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             show_progress=False)
    for key in ("hybrid_acc@p0.5", "server_acc@p1", "device_acc@p0"):
        assert summary["final"][key] > summary["initial"][key] + 0.2, key
    assert summary["final"]["hybrid_acc@p0.5"] > 0.5  # chance is 0.1
    lines = (tmp_path / "run" / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["round"] for line in lines] == [0, 1, 2, 3, 4]


def test_cuda_on_a_ray_cluster_without_gpus_is_one_clear_error(ray_session, tiny_scenario,
                                                               tmp_path: Path) -> None:
    """Said by the driver before any actor starts, not as a Ray traceback from inside one."""
    scenario = tiny_scenario(runtime={"backend": "ray", "device": "cuda"})
    with pytest.raises(UserInputError, match=r"^runtime.device: cuda, but the actors get no GPU"):
        run_simulation(scenario, RunDirectory.create(tmp_path / "run"), show_progress=False)


def test_seeded_runs_reproduce_and_write_every_file(tiny_scenario, tmp_path: Path) -> None:
    scenario = tiny_scenario(output={"plots": True})
    first = run_simulation(scenario, RunDirectory.create(tmp_path / "a"), show_progress=False)
    second = run_simulation(scenario, RunDirectory.create(tmp_path / "b"), show_progress=False)
    assert first["final"] == second["final"]
    run = tmp_path / "a"
    for name in (SCENARIO_FILE, METRICS_FILE, SUMMARY_FILE, CLIENTS_FILE, ROUNDS_FILE,
                 "accuracy_per_round.png"):
        assert (run / name).is_file(), name
    assert load_scenario(run / SCENARIO_FILE) == scenario  # the resolved scenario re-runs
    with open(run / CLIENTS_FILE) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == scenario.clients.count
    assert {"client_id", "tier", "arch", "hybrid_acc@p0.5", "fallback_rate@p1"} <= set(rows[0])
    assert json.loads((run / SUMMARY_FILE).read_text())["rounds"] == scenario.training.rounds


def test_private_state_stays_on_its_pool(tiny_scenario) -> None:
    """Clients keep personal weights only in the pool that hosts them, and only once trained."""
    from harmony_sim.data import load_dataset
    from harmony_sim.population import build_clients
    from harmony_sim.runtime import LocalRuntime

    scenario = tiny_scenario(runtime={"pool_actors": 2}, clients={"count": 6, "per_round": 3})
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset))
    runtime.run_round(1, [0, 1, 4])
    assert sorted(runtime.pools[0].personal) == [0, 4]
    assert sorted(runtime.pools[1].personal) == [1]
