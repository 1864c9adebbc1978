"""Shared fixtures: one Ray instance per test session, and tiny seeded scenarios."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harmony_sim.scenario import Scenario
from harmony_sim.scenario.loading import scenario_from_dict


def tiny_scenario_dict(**sections: Any) -> dict[str, Any]:
    """A scenario that trains in seconds: sklearn digits (8x8), 6 clients, small cut."""
    raw: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "data": {"dataset": "digits", "classes_per_client": 3, "test_samples_per_client": 30},
        "model": {"family": "plain_cnn", "width": 0.5, "depth": 1, "cut_channels": 16,
                  "cut_size": 2},
        "clients": {"count": 6, "per_round": 6},
        "training": {"rounds": 3, "local_epochs": 2, "batch_size": 16, "lr": 0.05},
        "evaluation": {"ood_ratios": [0.0, 0.5, 1.0]},
        "runtime": {"backend": "local"},
        "output": {"plots": False},
    }
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(raw.get(section), dict):
            raw[section] = {**raw[section], **values}
        else:
            raw[section] = values
    return raw


@pytest.fixture
def tiny_scenario() -> Callable[..., Scenario]:
    """Factory: tiny_scenario(training={"rounds": 2}) -> validated Scenario."""
    return lambda **sections: scenario_from_dict(tiny_scenario_dict(**sections))


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the whole session (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    import logging

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()
