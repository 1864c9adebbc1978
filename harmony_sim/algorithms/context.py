"""What an algorithm needs of the run besides its own config section: a small, picklable record
built once from the scenario, so algorithms never see (or depend on) the whole Scenario."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harmony_sim.data import Dataset
from harmony_sim.models import ArchSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.scenario.schema import DeviceChoice, Scenario, ServerConfig, TrainingConfig


@dataclass(frozen=True)
class RunContext:
    seed: int
    model: ModelContext
    training: TrainingConfig
    server: ServerConfig
    device: DeviceChoice  # runtime.device: auto | cpu | cuda
    architectures: tuple[ArchSpec, ...]  # every architecture in use: the same in every process
    per_round: int  # participants per round

    @classmethod
    def of(cls, scenario: Scenario, dataset: Dataset,
           architectures: Iterable[ArchSpec]) -> RunContext:
        """`architectures`: those of every client (as fitted), not only a pool's own."""
        return cls(scenario.seed,
                   ModelContext.of(scenario.model, dataset.input_shape, dataset.num_classes),
                   scenario.training, scenario.server, scenario.runtime.device,
                   tuple(sorted(set(architectures))), scenario.clients.per_round)
