"""FedAvg (McMahan et al., 2017) with the whole model on the device: the largest architecture
every client fits, followed by the server back end's layers, trained locally and averaged. It
answers on the device (no server at inference)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.records import ClientModels, GlobalModel, PersonalState
from harmony_sim.algorithms.registry import ALGORITHMS
from harmony_sim.models import ArchSpec, build_server_backend
from harmony_sim.scenario.algorithm_configs import FedAvgConfig


def common_architecture(archs: Sequence[ArchSpec]) -> ArchSpec:
    """Smallest width and smallest depth over the tiers' architectures (the largest model that
    fits every client: not wider, not deeper), in the family of the smallest one."""
    smallest = min(archs, key=lambda a: (a.width * a.depth, a.width, a.depth))
    return ArchSpec(smallest.family, min(a.width for a in archs), min(a.depth for a in archs))


@ALGORITHMS.register("fedavg")
class FedAvg(Algorithm):
    name = "fedavg"
    uses_server = False  # the 'head' below is the server back end's architecture, on device

    def __init__(self, config: FedAvgConfig, run: RunContext) -> None:
        super().__init__(config, run)
        self.common = common_architecture(run.architectures)

    def head_module(self, arch: ArchSpec) -> nn.Module:
        c = self.context
        return self._cached("head", arch.id,
                            lambda: build_server_backend(c.cut, c.num_classes, c.norm))

    def init_global(self, archs: Iterable[ArchSpec]) -> GlobalModel:
        return super().init_global([self.common])

    def client_models(self, arch: ArchSpec, global_model: GlobalModel,
                      personal: PersonalState | None, client_id: int = -1) -> ClientModels:
        return super().client_models(self.common, global_model, None, client_id)
