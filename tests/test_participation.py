"""Participation: availability, traces, dropout, deadline and over-selection pick exactly the
clients an independent re-computation of the rules picks."""

from __future__ import annotations

import csv
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from harmony_sim import participation as participation_module
from harmony_sim.data import load_dataset
from harmony_sim.errors import UserInputError
from harmony_sim.participation import Participation, RoundPlan
from harmony_sim.population import build_clients
from harmony_sim.results import RunDirectory
from harmony_sim.round_report import ClientRoundReport
from harmony_sim.runtime import LocalRuntime
from harmony_sim.selection import sample_participants
from harmony_sim.simulation import run_simulation


def _uniform(seed: int, *purpose: object) -> float:
    """The rule's draw, re-derived here from numpy directly (not through harmony_sim.seeding)."""
    key = [seed, *(zlib.crc32(str(p).encode()) for p in purpose)]
    return float(np.random.default_rng(key).random())


def _expected_round(seed: int, round_idx: int, count: int, target: int, availability: float,
                    dropout: float, offline: set[int]) -> tuple[list[int], set[int]]:
    """Selected and dropped clients: walk a seeded permutation, keep online clients."""
    key = [seed, zlib.crc32(b"candidates"), zlib.crc32(str(round_idx).encode())]
    order = np.random.default_rng(key).permutation(count)
    selected = []
    for cid in order:
        cid = int(cid)
        online = (round_idx, cid) not in offline and \
            _uniform(seed, "availability", round_idx, cid) < availability
        if online:
            selected.append(cid)
        if len(selected) == target:
            break
    dropped = {c for c in selected if _uniform(seed, "dropout", round_idx, c) < dropout}
    return sorted(selected), dropped


def _report(cid: int, time_s: float) -> ClientRoundReport:
    return ClientRoundReport(client_id=cid, tier="default", arch="a", samples=10, batches=1,
                             exit_loss=0.0, server_loss=0.0, uplink_bytes=0, downlink_bytes=0,
                             compute_s=time_s, device_s=time_s)


def test_defaults_keep_the_plain_sample(tiny_scenario):
    scenario = tiny_scenario(clients={"count": 40, "per_round": 7})
    participation = Participation(scenario, ["default"] * 40)
    for r in range(1, 4):
        plan = participation.plan_round(r)
        assert list(plan.selected) == sample_participants(scenario, r)
        assert plan.dropped == frozenset()
    assert not participation.holds_updates


def test_deadline_and_over_selection_pick_first_reports_in_time(tiny_scenario):
    scenario = tiny_scenario(clients={"count": 20, "per_round": 3},
                             participation={"deadline_s": 1.0, "over_selection": 1.0})
    participation = Participation(scenario, ["default"] * 20)
    plan = RoundPlan(1, (1, 2, 3, 4, 5, 6), frozenset({6}))
    times = {1: 0.9, 2: 1.5, 3: 0.2, 4: 0.95, 5: 0.3}
    outcome = participation.close_round(plan, [_report(c, t) for c, t in times.items()])
    assert outcome.accepted == {3, 5, 1}  # the three fastest within 1.0 s
    assert outcome.outcome == {1: "finished", 2: "straggled", 3: "finished", 4: "straggled",
                               5: "finished", 6: "dropped"}
    assert outcome.round_time_s == 0.9  # slowest accepted client
    counts = participation.tier_counts(plan, outcome)
    assert counts == {"default": {"selected": 6, "finished": 3, "dropped": 1, "straggled": 2}}


def test_seeded_run_drops_exactly_the_right_clients(tiny_scenario, tmp_path, monkeypatch):
    """End to end on the local runtime: availability (with a trace), dropout, over-selection and
    a deadline. Simulated time is pinned to client_id / 100 s so the deadline is exact."""
    monkeypatch.setattr(participation_module, "client_round_time",
                        lambda report: report.client_id / 100)
    trace = tmp_path / "trace.csv"
    offline = {(1, 3), (1, 17), (2, 5), (2, 11), (3, 0)}
    trace.write_text("round,client_id,online\n" +
                     "".join(f"{r},{c},0\n" for r, c in sorted(offline)))
    count, per_round, seed = 24, 4, 3
    scenario = tiny_scenario(
        seed=seed, clients={"count": count, "per_round": per_round},
        training={"rounds": 3, "local_epochs": 1},
        participation={"availability": 0.7, "dropout": 0.25, "deadline_s": 0.155,
                       "over_selection": 0.5, "trace": str(trace)})
    run_simulation(scenario, RunDirectory.create(tmp_path / "run"), show_progress=False)
    with open(tmp_path / "run" / "participants.csv") as handle:
        rows = list(csv.DictReader(handle))
    target = math.ceil(per_round * 1.5)
    straggled_total = 0
    for r in range(1, 4):
        selected, dropped = _expected_round(seed, r, count, target, 0.7, 0.25, offline)
        trained = [c for c in selected if c not in dropped]
        in_time = sorted(c for c in trained if c / 100 <= 0.155)
        finished = set(in_time[:per_round])
        expected = {c: "dropped" if c in dropped else
                    "finished" if c in finished else "straggled" for c in selected}
        got = {int(row["client_id"]): row["outcome"] for row in rows if int(row["round"]) == r}
        assert got == expected, f"round {r}"
        straggled_total += sum(o == "straggled" for o in expected.values())
        assert all((r, c) not in offline for c in selected)
    assert straggled_total > 0  # the scenario does exercise the deadline


@pytest.mark.parametrize("training", ["lockstep", "replicas"])
def test_stragglers_add_no_update_and_held_updates_match_direct(tiny_scenario, training):
    scenario = tiny_scenario(clients={"count": 6, "per_round": 6}, server={"training": training})
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)

    def components(runtime):
        return runtime.global_model().components

    before = components(LocalRuntime(scenario, dataset, clients))
    late = LocalRuntime(scenario, dataset, clients)
    reports = late.run_round(1, range(6), deadline_s=1e-9)  # everyone misses it
    assert len(reports) == 6
    for name, state in components(late).items():
        # The lockstep server stepped on every cut it received during the round; only the
        # stragglers' client-side updates are dropped.
        if name == "server" and training == "lockstep":
            assert any(not torch.equal(v, before[name][k]) for k, v in state.items())
            continue
        for key, value in state.items():
            assert torch.equal(value, before[name][key]), f"{name}.{key} changed"
    direct, held = (LocalRuntime(scenario, dataset, clients) for _ in range(2))
    direct.run_round(1, range(6))
    held.run_round(1, range(6), choose=lambda reports: {r.client_id for r in reports})
    for name, state in components(direct).items():
        for key, value in state.items():
            assert torch.equal(value, components(held)[name][key]), f"{name}.{key} differs"


def test_bad_trace_is_a_one_line_error(tiny_scenario, tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("round,client\n1,2\n")
    scenario = tiny_scenario(participation={"trace": str(trace)})
    with pytest.raises(UserInputError, match="participation.trace: .* lacks column"):
        Participation(scenario, ["default"] * 6)


def test_profile_availability_per_tier(tiny_scenario, tmp_path, monkeypatch):
    """Tiers take availability from their device profile unless the scenario fixes one."""
    from harmony_sim.devices import catalog

    for name, p in (("flaky", 0.3), ("steady", 1.0)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: {name}\ntier: low\ncompute_gflops: 1\ncpu_cores: 1\nmemory_mb: 512\n"
            f"uplink_mbps: 1\ndownlink_mbps: 1\nrtt_ms: 10\navailability: {p}\n")
    monkeypatch.setenv(catalog.PROFILES_ENV, str(Path(tmp_path)))
    tiers = [{"name": "a", "share": 1, "profile": "flaky"},
             {"name": "b", "share": 1, "profile": "steady"}]
    scenario = tiny_scenario(clients={"count": 6, "per_round": 2, "tiers": tiers})
    assert participation_module.tier_availability(scenario) == {
        "default": 1.0, "a": 0.3, "b": 1.0}
    fixed = tiny_scenario(clients={"count": 6, "per_round": 2, "tiers": tiers},
                          participation={"availability": 0.5})
    assert participation_module.tier_availability(fixed) == {
        "default": 0.5, "a": 0.5, "b": 0.5}


def test_ray_pools_hold_and_commit_like_local_pools(tiny_scenario, ray_session):
    """Over-selection on Ray: reports come back first, then only the chosen updates travel;
    the result equals the in-process runtime choosing the same clients."""
    from harmony_sim.runtime import RayRuntime

    scenario = tiny_scenario(runtime={"backend": "ray", "pool_actors": 2})
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)
    chosen = {0, 3, 4}

    def choose(reports):
        assert sorted(r.client_id for r in reports) == [0, 1, 3, 4, 5]
        return chosen

    ray_runtime = RayRuntime(scenario, dataset, clients)
    try:
        ray_runtime.run_round(1, [0, 1, 3, 4, 5], choose=choose)
        remote = ray_runtime.global_model().components
    finally:
        ray_runtime.close()
    local = LocalRuntime(scenario, dataset, clients)
    local.run_round(1, [0, 1, 3, 4, 5], choose=choose)
    for name, state in local.global_model().components.items():
        for key, value in state.items():
            assert torch.allclose(value, remote[name][key], atol=1e-6), f"{name}.{key}"
