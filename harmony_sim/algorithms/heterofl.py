"""HeteroFL (Diao et al., ICLR 2021) in the hybrid split setting: every client's extractor is a
width/depth slice of its family's supernet and is averaged into it with per-parameter coverage,
so clients of different sizes share weights. Exit head, server back end and lambda mixing as in
SplitGP (its subclass), so the only difference from SplitGP is cross-architecture aggregation."""

from __future__ import annotations

from collections.abc import Iterable

from harmony_sim.algorithms.records import GlobalModel
from harmony_sim.algorithms.registry import ALGORITHMS
from harmony_sim.algorithms.splitgp import SplitGP
from harmony_sim.algorithms.supernet import init_supernets, supernet_key
from harmony_sim.models import ArchSpec


@ALGORITHMS.register("heterofl")
class HeteroFL(SplitGP):
    name = "heterofl"

    def extractor_key(self, arch: ArchSpec) -> str:
        return supernet_key(arch.family)

    def init_global(self, archs: Iterable[ArchSpec]) -> GlobalModel:
        archs = list(archs)
        model = super().init_global(archs)
        model.components.update(init_supernets(self.run, archs, self.extractor_module))
        return model
