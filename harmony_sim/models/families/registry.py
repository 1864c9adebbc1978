"""The family registry: name -> builder of an extractor trunk."""

from __future__ import annotations

from typing import Protocol

from torch import nn

from harmony_sim.models.norm import NormFactory
from harmony_sim.registry import Registry


class FamilyBuilder(Protocol):
    """Builds the `features` trunk; returns it and its output channel count."""

    def __call__(self, in_channels: int, width: float, depth: int,
                 norm_layer: NormFactory | None) -> tuple[nn.Sequential, int]: ...


FAMILIES: Registry[FamilyBuilder] = Registry("model family")
