"""The device clock charges scaled per-step time; `profile` measures the host and writes a
valid host profile; a run reports device time per client and per round."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harmony_sim.cli import main
from harmony_sim.devices import load_profile_file
from harmony_sim.devices.clock import DeviceClock
from harmony_sim.errors import UserInputError
from harmony_sim.results import RunDirectory
from harmony_sim.scenario import Scenario
from harmony_sim.simulation import run_simulation
from tests.devices.test_selection import three_tiers


def test_clock_charges_only_device_work_scaled() -> None:
    clock = DeviceClock(time_scale=10.0)
    for _ in range(3):
        with clock.device_work():
            time.sleep(0.01)  # device work
        time.sleep(0.03)  # the server's step, elsewhere: not device work
        clock.step(16)
    assert clock.steps_charged == 3
    assert 0.03 <= clock.host_s < 0.06  # the 0.09 s of server time is not charged
    assert clock.device_s == pytest.approx(clock.host_s * 10.0)


def test_flops_clock_charges_per_sample() -> None:
    clock = DeviceClock(time_scale=10.0, seconds_per_sample=0.5)
    with clock.device_work():
        time.sleep(0.01)
    clock.step(4)
    clock.step(2)
    assert clock.device_s == pytest.approx(3.0)  # measured time does not count


def test_clock_waits_for_queued_device_work_at_both_ends() -> None:
    """On cuda the work a block queued finishes after the block returns: the clock's wait (a
    GPU synchronize there) runs before and after it, so the block is charged its own work."""
    events: list[str] = []

    def wait() -> None:  # stands in for torch.cuda.synchronize: the queued work takes 0.02 s
        events.append("wait")
        if events.count("work") > events.count("done"):
            time.sleep(0.02)
            events.append("done")

    clock = DeviceClock(time_scale=1.0, wait=wait)
    with clock.device_work():
        events.append("work")  # returns at once, as a CUDA launch does
    assert events == ["wait", "work", "wait", "done"]
    assert clock.host_s >= 0.02


def test_profile_command_writes_a_valid_host_profile(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "host.yaml"
    code = main(["profile", "--out", str(out), "--widths", "0.25", "0.5", "--depths", "1",
                 "--input-shape", "1", "8", "8", "--repeats", "1", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "GFLOP/s" in printed and ("no NVIDIA GPU" in printed or "MB)" in printed)
    profile = load_profile_file(out)
    assert profile.tier == "host" and profile.compute_gflops > 0 and profile.cpu_cores == 1
    assert "# measured" in out.read_text()


def test_profile_command_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--batch", "0"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --batch")


def test_run_reports_device_time(tiny_scenario: Callable[..., Scenario],
                                 tmp_path: Path) -> None:
    scenario = tiny_scenario(clients=three_tiers(latency_budget_ms=3.0)["clients"],
                             training={"rounds": 1, "local_epochs": 1})
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             show_progress=False)
    with open(tmp_path / "run" / "architectures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["tier"] for r in rows] == ["low", "mid", "high"]
    assert len({r["arch"] for r in rows}) == 3
    with open(tmp_path / "run" / "rounds.csv") as handle:
        rounds = list(csv.DictReader(handle))
    assert float(rounds[0]["device_s"]) > 0
    assert float(rounds[0]["device_max_s"]) <= float(rounds[0]["device_s"])
    assert summary["excluded_clients"] == [] and len(summary["architectures"]) == 3


def test_a_written_host_profile_drives_a_tier(tiny_scenario: Callable[..., Scenario],
                                              tmp_path: Path) -> None:
    from harmony_sim.data import load_dataset
    from harmony_sim.population import plan_population

    out = tmp_path / "host.yaml"
    assert main(["profile", "--out", str(out), "--widths", "0.25", "--depths", "1",
                 "--input-shape", "1", "8", "8", "--repeats", "1", "--threads", "1"]) == 0
    scenario = tiny_scenario(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "me", "share": 1, "profile": str(out)}],
        "selection": {"host_profile": str(out)}})
    population = plan_population(scenario, load_dataset(scenario.data, scenario.seed))
    assert {c.time_scale for c in population.clients} == {1.0}  # the host is its own device
    assert population.tiers[0].profile == load_profile_file(out).name


def test_excluded_tier_is_left_out_of_the_run(tiny_scenario: Callable[..., Scenario],
                                              tmp_path: Path) -> None:
    scenario = tiny_scenario(clients=three_tiers(latency_budget_ms=0.3)["clients"],
                             training={"rounds": 1, "local_epochs": 1})
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             show_progress=False)
    excluded = {e["client_id"] for e in summary["excluded_clients"]}
    assert excluded and {e["tier"] for e in summary["excluded_clients"]} == {"low"}
    assert summary["evaluated_clients"] == scenario.clients.count - len(excluded)
    with open(tmp_path / "run" / "clients.csv") as handle:
        assert not excluded & {int(r["client_id"]) for r in csv.DictReader(handle)}


def test_flops_clock_charges_the_cost_model_deterministically(
        tiny_scenario: Callable[..., Scenario]) -> None:
    from harmony_sim.data import load_dataset
    from harmony_sim.devices import load_profile
    from harmony_sim.models.context import ModelContext
    from harmony_sim.models.cost import arch_cost
    from harmony_sim.population import plan_population
    from harmony_sim.runtime import LocalRuntime

    scenario = tiny_scenario(clients={
        "count": 4, "per_round": 4, "device_clock": "flops",
        "tiers": [{"name": "pi", "share": 1, "profile": "raspberry_pi_4"}]})
    dataset = load_dataset(scenario.data, scenario.seed)
    population = plan_population(scenario, dataset)
    context = ModelContext.of(scenario.model, dataset.input_shape, dataset.num_classes)
    cost = arch_cost(population.clients[0].arch, context, scenario.training.batch_size)
    per_sample = cost.train_flops / (load_profile("raspberry_pi_4").compute_gflops * 1e9)
    runs = [LocalRuntime(scenario, dataset, population.clients).run_round(1, [0, 1, 2, 3])
            for _ in range(2)]
    for report in runs[0]:
        assert report.samples > 0
        assert report.device_s == pytest.approx(report.samples * per_sample, rel=1e-9)
    assert [r.device_s for r in runs[0]] == [r.device_s for r in runs[1]]


def test_flops_clock_needs_profiles(tiny_scenario: Callable[..., Scenario]) -> None:
    from harmony_sim.data import load_dataset
    from harmony_sim.population import plan_population

    scenario = tiny_scenario(clients={"count": 4, "per_round": 2, "device_clock": "flops"})
    with pytest.raises(UserInputError, match="clients.device_clock"):
        plan_population(scenario, load_dataset(scenario.data, scenario.seed))
