"""Plain VGG-style CNN: stacked 3x3 Conv-Norm-ReLU stages."""

from __future__ import annotations

from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from harmony_sim.models.architecture import make_divisible
from harmony_sim.models.families.registry import FAMILIES
from harmony_sim.models.norm import NormFactory

# (base channels, stride of the first block) per stage; depth repeats blocks within a stage.
STAGES: tuple[tuple[int, int], ...] = ((16, 1), (32, 2), (64, 2))


@FAMILIES.register("plain_cnn")
def build_plain_cnn(in_channels: int, width: float, depth: int,
                    norm_layer: NormFactory | None) -> tuple[nn.Sequential, int]:
    """Stem + 3 stages of `depth` 3x3 blocks; width scales every stage's channels. Block names are
    `features.<stage>.<block>`, so a shallower model's weights are a key subset of a deeper one."""
    stem_out = make_divisible(STAGES[0][0] * width)
    layers: list[nn.Module] = [Conv2dNormActivation(in_channels, stem_out, 3,
                                                    norm_layer=norm_layer)]
    channels = stem_out
    for base, stride in STAGES:
        out = make_divisible(base * width)
        blocks = [Conv2dNormActivation(channels if i == 0 else out, out, 3,
                                       stride=stride if i == 0 else 1, norm_layer=norm_layer)
                  for i in range(depth)]
        layers.append(nn.Sequential(*blocks))
        channels = out
    return nn.Sequential(*layers), channels
