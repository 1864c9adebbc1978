"""Device selection (runtime.device), when to vectorise, call size limits, and what stays in
turn: BatchNorm clients, with the reason in the log."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from harmony_sim.algorithms import placement
from harmony_sim.algorithms.placement import group_limit, resolve_device
from harmony_sim.data import load_dataset
from harmony_sim.errors import UserInputError
from harmony_sim.population import build_clients
from harmony_sim.runtime import LocalRuntime


def test_auto_is_cuda_only_where_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserInputError, match="runtime.device: cuda"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_group_limit_from_config_or_the_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert group_limit(7, torch.device("cpu"), 10**12) == 7
    monkeypatch.setattr(placement, "budget_bytes", lambda device: 1000)
    assert group_limit(None, torch.device("cuda"), 100) == 5  # half the budget
    assert group_limit(None, torch.device("cuda"), 10**6) == 1
    monkeypatch.setattr(placement, "budget_bytes", lambda device: 10**12)
    assert group_limit(None, torch.device("cpu"), 100) == placement.CPU_GROUP
    assert group_limit(None, torch.device("cpu"), 100, threads=2) == placement.CPU_GROUP_THREADED


def test_auto_stacks_on_cuda_only() -> None:
    assert placement.stacks_by_default(torch.device("cuda"))
    assert not placement.stacks_by_default(torch.device("cpu"))


def test_cuda_budget_is_the_gpus_total_memory_times_this_actors_share(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed for the run (free memory moves with torch's caching allocator); a Ray actor plans
    in its GPU share only."""
    class Properties:
        total_memory = 1000

    class RuntimeContext:
        def get_assigned_resources(self) -> dict[str, float]:
            return {"CPU": 1.0, "GPU": 0.25}

    class FakeRay:
        initialized = False

        def is_initialized(self) -> bool:
            return self.initialized

        def get_runtime_context(self) -> RuntimeContext:
            return RuntimeContext()

    fake = FakeRay()
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Properties())
    monkeypatch.setitem(sys.modules, "ray", fake)
    assert placement.budget_bytes(torch.device("cuda")) == 1000
    fake.initialized = True
    assert placement.budget_bytes(torch.device("cuda")) == 250


def test_chunked_calls_are_logged(tiny_scenario, caplog: pytest.LogCaptureFixture) -> None:
    scenario = tiny_scenario(training={"rounds": 1, "local_epochs": 1},
                             runtime={"vectorise": "on", "max_group": 2})
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset))
    with caplog.at_level(logging.INFO, logger="harmony_sim.algorithms.placement"):
        runtime.run_round(1, list(range(6)))
    assert "in calls of at most 2 (runtime.max_group)" in caplog.text


def test_batchnorm_clients_train_in_turn(tiny_scenario, caplog: pytest.LogCaptureFixture) -> None:
    scenario = tiny_scenario(model={"norm": "batch"}, training={"rounds": 1, "local_epochs": 1},
                             runtime={"vectorise": "on"})
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset))
    with caplog.at_level(logging.WARNING):
        reports = runtime.run_round(1, list(range(6)))
    assert all(r.batches > 0 for r in reports)
    assert "trained in turn" in caplog.text and "BatchNorm" in caplog.text
