"""Architecture identities: family x width x depth, and the common cut tensor shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ArchSpec:
    """One extractor architecture. `width` multiplies channels; `depth` is blocks per stage."""

    family: str
    width: float
    depth: int

    @property
    def id(self) -> str:
        return f"{self.family}-w{self.width:g}-d{self.depth}"


@dataclass(frozen=True)
class CutSpec:
    """The tensor every extractor of a scenario emits and the server back end consumes."""

    channels: int
    size: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    @property
    def numel(self) -> int:
        return self.channels * self.size * self.size


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of `divisor`, never dropping more than 10% (torchvision's rule).
    Multiples of 8 keep GroupNorm groups whole and width slices nested."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
