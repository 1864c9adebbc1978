"""SplitGP (Han et al., 2023): the base class's hooks are its protocol (extractor and exit head on
the device, one back end on the server, loss gamma * exit CE + (1 - gamma) * server CE); this
class adds the personal share of each client part (algorithm.personal)."""

from __future__ import annotations

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.registry import ALGORITHMS
from harmony_sim.scenario.algorithm_configs import SplitGPConfig


@ALGORITHMS.register("splitgp")
class SplitGP(Algorithm):
    name = "splitgp"
    config: SplitGPConfig

    def personal_share(self, part: str) -> float:
        return float(getattr(self.config.personal, part))
