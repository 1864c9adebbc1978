"""The split: extractor (trunk + cut adapter) -> cut tensor -> exit head | server back end."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops.misc import Conv2dNormActivation

from harmony_sim.models.architecture import ArchSpec, CutSpec, make_divisible
from harmony_sim.models.families import FAMILIES
from harmony_sim.models.norm import NormKind, norm_factory


class Extractor(nn.Module):
    """On-device trunk: `features` (family-specific) then `cut_adapter` to the common cut shape."""

    def __init__(self, features: nn.Sequential, cut_adapter: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.cut_adapter = cut_adapter

    def forward(self, x: Tensor) -> Tensor:
        # The cut leaves contiguous whatever layout the trunk ran in (models/layout.py): the
        # head, the server, codecs and the gradient sent back all see one layout.
        cut = self.cut_adapter(self.features(x))
        if cut.is_contiguous():  # a contiguous trunk (off CPU, under vmap)
            return cut
        if cut.requires_grad and cut.is_contiguous(memory_format=torch.channels_last):
            # Its gradient comes back contiguous; turned back to the trunk's layout, the
            # trunk's backward runs in one layout (mixed, the last ReLU's backward alone cost
            # 1-1.5 ms a step, 5 % of a quickstart client step).
            cut.register_hook(_to_channels_last)
        return cut.contiguous()


def _to_channels_last(grad: Tensor) -> Tensor:
    return grad.contiguous(memory_format=torch.channels_last)


def build_extractor(arch: ArchSpec, in_channels: int, cut: CutSpec,
                    norm: NormKind = "group") -> Extractor:
    """Extractor of `arch` for inputs with `in_channels`, emitting a (cut.channels, size, size)
    tensor. The adapter pools to the cut size and projects channels with a 1x1 conv, so every
    family/width/depth meets the server on the same tensor."""
    norm_layer = norm_factory(norm)
    features, channels = FAMILIES.get(arch.family)(in_channels, arch.width, arch.depth,
                                                   norm_layer)
    adapter = nn.Sequential(
        nn.AdaptiveAvgPool2d(cut.size),
        Conv2dNormActivation(channels, cut.channels, 1, norm_layer=norm_layer),
    )
    return Extractor(features, adapter)


def build_exit_head(cut: CutSpec, num_classes: int) -> nn.Module:
    """Small personalised classifier on the flattened cut tensor (SplitGP's client head)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(cut.numel, num_classes))


def build_server_backend(cut: CutSpec, num_classes: int, norm: NormKind = "group",
                         width: int = 64) -> nn.Module:
    """Shared back end: two conv blocks on the cut tensor, global pool, linear classifier."""
    norm_layer = norm_factory(norm)
    channels = make_divisible(width)
    return nn.Sequential(
        Conv2dNormActivation(cut.channels, channels, 3, norm_layer=norm_layer),
        Conv2dNormActivation(channels, channels, 3, stride=2 if cut.size >= 4 else 1,
                             norm_layer=norm_layer),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )
