"""Algorithm registry: scenario `algorithm.name` -> Algorithm class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harmony_sim.registry import Registry

if TYPE_CHECKING:
    from harmony_sim.algorithms.base import Algorithm, ModelContext
    from harmony_sim.scenario.schema import Scenario

ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")


def create_algorithm(scenario: Scenario, context: ModelContext) -> Algorithm:
    return ALGORITHMS.get(scenario.algorithm.name)(scenario, context)
