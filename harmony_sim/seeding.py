"""Named random streams: every generator derives from the scenario seed and a purpose, so one
component's draws never shift another's (adding an evaluation does not change training)."""

from __future__ import annotations

import zlib

import numpy as np
import torch


def stream_key(*parts: object) -> list[int]:
    """A stable integer key for a purpose such as ("partition",) or ("client", 7, "round", 3)."""
    return [zlib.crc32(str(p).encode()) for p in parts]


def numpy_rng(seed: int, *purpose: object) -> np.random.Generator:
    return np.random.default_rng([seed, *stream_key(*purpose)])


def torch_generator(seed: int, *purpose: object) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(int(numpy_rng(seed, *purpose).integers(0, 2**62)))
    return generator


def seed_torch(seed: int, *purpose: object) -> None:
    """Seed torch's global RNG (used by layer initialisers) for one purpose."""
    torch.manual_seed(int(numpy_rng(seed, *purpose).integers(0, 2**62)))
