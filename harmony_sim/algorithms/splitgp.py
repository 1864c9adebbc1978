"""SplitGP (Han et al., INFOCOM 2023): personalised extractor + exit head on the device, a shared
server back end for fallback. Loss gamma * CE(exit) + (1 - gamma) * CE(server); extractors are
averaged only among clients of the same architecture, then mixed with lambda."""

from __future__ import annotations

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.registry import ALGORITHMS


@ALGORITHMS.register("splitgp")
class SplitGP(Algorithm):
    """The base class's hooks are SplitGP's protocol; this class only names it."""

    name = "splitgp"
