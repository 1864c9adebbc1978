"""The one record of what fixes a model besides its ArchSpec: input shape, classes, cut, norm.
Model builders, cost figures, device fitting and the algorithms all read it."""

from __future__ import annotations

from dataclasses import dataclass

from harmony_sim.models.architecture import CutSpec
from harmony_sim.models.norm import NormKind
from harmony_sim.scenario.schema import ModelConfig


@dataclass(frozen=True)
class ModelContext:
    input_shape: tuple[int, int, int]
    num_classes: int
    cut: CutSpec
    norm: NormKind = "group"

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]

    @classmethod
    def of(cls, model: ModelConfig, input_shape: tuple[int, ...],
           num_classes: int) -> ModelContext:
        """The context of a scenario's `model` section on a dataset of this shape."""
        channels, height, width = input_shape
        return cls((channels, height, width), num_classes,
                   CutSpec(model.cut_channels, model.cut_size), model.norm)
