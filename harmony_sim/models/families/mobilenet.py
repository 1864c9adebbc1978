"""MobileNetV2-style trunk: torchvision InvertedResidual blocks (expand, depthwise, project)."""

from __future__ import annotations

from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.ops.misc import Conv2dNormActivation

from harmony_sim.models.architecture import make_divisible
from harmony_sim.models.families.registry import FAMILIES
from harmony_sim.models.norm import NormFactory

# (expansion ratio t, base output channels, stride of the first block) per stage;
# depth = inverted residual blocks per stage.
STAGES: tuple[tuple[int, int, int], ...] = ((1, 16, 1), (6, 24, 2), (6, 40, 2))
STEM_CHANNELS = 16


@FAMILIES.register("mobilenet")
def build_mobilenet(in_channels: int, width: float, depth: int,
                    norm_layer: NormFactory | None) -> tuple[nn.Sequential, int]:
    """Stem + 3 stages of `depth` InvertedResiduals. Width scales input and output channels;
    hidden channels are round(input * t), so they scale too and stay leading slices."""
    norm = norm_layer or nn.Identity  # InvertedResidual would default to BatchNorm
    stem_out = make_divisible(STEM_CHANNELS * width)
    layers: list[nn.Module] = [Conv2dNormActivation(in_channels, stem_out, 3, norm_layer=norm,
                                                    activation_layer=nn.ReLU6)]
    channels = stem_out
    for expand, base, stride in STAGES:
        out = make_divisible(base * width)
        blocks = [InvertedResidual(channels if i == 0 else out, out, stride if i == 0 else 1,
                                   expand, norm_layer=norm) for i in range(depth)]
        layers.append(nn.Sequential(*blocks))
        channels = out
    return nn.Sequential(*layers), channels
