"""Training algorithms, looked up by name: each is one class with a few hooks (base.Algorithm)."""

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.records import ClientModels, GlobalModel
from harmony_sim.algorithms.registry import ALGORITHMS, create_algorithm

# Importing an algorithm module registers it.
from harmony_sim.algorithms import splitgp  # noqa: E402,F401  isort: skip
from harmony_sim.algorithms import fedavg, harmony, heterofl, local, sfl  # noqa: E402,F401  isort: skip

__all__ = ["ALGORITHMS", "Algorithm", "ClientModels", "GlobalModel", "RunContext",
           "create_algorithm"]
