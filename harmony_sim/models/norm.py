"""Norm-layer factories so a family's blocks take GroupNorm, BatchNorm or none by one argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import nn

NormKind = Literal["group", "batch", "none"]
NormFactory = Callable[[int], nn.Module]

GROUP_SIZE = 8  # channels per group; widths are multiples of 8 (make_divisible)


def norm_factory(kind: NormKind) -> NormFactory | None:
    """GroupNorm is the default: it keeps no running statistics, so it is kinder to non-IID
    clients and to width slicing than BatchNorm."""
    if kind == "group":
        return lambda channels: nn.GroupNorm(max(1, channels // GROUP_SIZE), channels)
    if kind == "batch":
        return nn.BatchNorm2d
    return None
