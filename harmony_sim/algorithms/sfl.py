"""SplitFed (Thapa et al., AAAI 2022), SFL-V1: extractor on the device, no exit head; the server
back end answers every request. Extractors are averaged per architecture, with no personal
share (one global model per architecture: the base class keeps nothing personal)."""

from __future__ import annotations

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.registry import ALGORITHMS


@ALGORITHMS.register("sfl")
class SplitFed(Algorithm):
    name = "sfl"
    has_exit = False
