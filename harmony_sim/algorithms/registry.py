"""Algorithm registry: `algorithm.name` -> Algorithm class (HARMONY's presets share its class)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harmony_sim.registry import Registry

if TYPE_CHECKING:
    from harmony_sim.algorithms.base import Algorithm
    from harmony_sim.algorithms.context import RunContext

ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")


def create_algorithm(config: Any, run: RunContext) -> Algorithm:
    """The algorithm named by its config section (scenario.algorithm), for this run."""
    return ALGORITHMS.get(config.name)(config, run)
