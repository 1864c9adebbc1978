"""ResNet-style trunk: torchvision BasicBlocks in three stages (a small CIFAR-style ResNet)."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1
from torchvision.ops.misc import Conv2dNormActivation

from harmony_sim.models.architecture import make_divisible
from harmony_sim.models.families.registry import FAMILIES
from harmony_sim.models.norm import NormFactory

# (base channels, stride of the first block) per stage; depth = BasicBlocks per stage.
STAGES: tuple[tuple[int, int], ...] = ((16, 1), (32, 2), (64, 2))


@FAMILIES.register("resnet")
def build_resnet(in_channels: int, width: float, depth: int,
                 norm_layer: NormFactory | None) -> tuple[nn.Sequential, int]:
    """Stem + 3 stages of `depth` BasicBlocks; width scales every channel count. A block has a
    projection shortcut exactly when its stage changes stride (stages 2 and 3), independent of
    width, so every width holds the same keys and narrower tensors are leading slices."""
    norm = norm_layer or nn.Identity  # BasicBlock would default to BatchNorm
    stem_out = make_divisible(STAGES[0][0] * width)
    layers: list[nn.Module] = [Conv2dNormActivation(in_channels, stem_out, 3, norm_layer=norm)]
    channels = stem_out
    for base, stride in STAGES:
        out = make_divisible(base * width)
        blocks = []
        for i in range(depth):
            block_stride = stride if i == 0 else 1
            shortcut = None
            if i == 0 and stride != 1:
                shortcut = nn.Sequential(conv1x1(channels, out, block_stride), norm(out))
            blocks.append(BasicBlock(channels if i == 0 else out, out, block_stride, shortcut,
                                     norm_layer=norm))
        layers.append(nn.Sequential(*blocks))
        channels = out
    return nn.Sequential(*layers), channels
