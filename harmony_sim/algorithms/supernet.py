"""Per-family supernets: one state dict per model family whose leading slices give every
width/depth in use (HeteroFL width slicing, depth by trailing blocks). Shared by HeteroFL and
HARMONY; plain functions so algorithms compose them instead of inheriting them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from harmony_sim.aggregation import StateDict, fresh_state, slice_state
from harmony_sim.algorithms.context import RunContext
from harmony_sim.models import ArchSpec, Extractor
from harmony_sim.models.weights import load_weights, weights
from harmony_sim.seeding import seed_torch

# Widths a simulated extractor may take (besides the client's own).
SIMULATED_WIDTHS = (0.25, 0.5, 0.75, 1.0)


SUPERNET_PREFIX = "supernet/"


def supernet_key(family: str) -> str:
    return f"{SUPERNET_PREFIX}{family}"


def run_family_maxima(run: RunContext) -> dict[str, ArchSpec]:
    """family_maxima over every client's architecture: the same answer in the server and in
    every pool, whichever clients each hosts."""
    return family_maxima(run.architectures)


def family_maxima(archs: Iterable[ArchSpec]) -> dict[str, ArchSpec]:
    """Per family, the architecture with the largest width and the largest depth in use: its
    state dict holds every member as a leading slice."""
    maxima: dict[str, ArchSpec] = {}
    for arch in archs:
        best = maxima.get(arch.family)
        maxima[arch.family] = ArchSpec(arch.family,
                                       max(arch.width, best.width if best else 0.0),
                                       max(arch.depth, best.depth if best else 0))
    return maxima


def init_supernets(run: RunContext, archs: Iterable[ArchSpec],
                   build: Callable[[ArchSpec], nn.Module]) -> dict[str, StateDict]:
    """Seeded fresh weights of each family's largest member (over every client's architecture
    and `archs`), keyed by supernet_key; `build` returns the (cached) extractor module."""
    states = {}
    for family, arch in sorted(family_maxima([*run.architectures, *archs]).items()):
        seed_torch(run.seed, "init", "supernet", family)
        states[supernet_key(family)] = fresh_state(build(arch))
    return states


def reptile_step(old: StateDict, target: StateDict, step: float) -> StateDict:
    """old + step * (target - old) per float tensor (Reptile's outer update; step 1 = target)."""
    return {key: (value + step * (target[key] - value) if value.is_floating_point()
                  else target[key].clone())
            for key, value in old.items()}


def fitting_archs(own: ArchSpec, maxima: dict[str, ArchSpec],
                  cross_family: bool) -> list[ArchSpec]:
    """Architectures a client could run in place of its own: not wider and not deeper (what
    'fits this device' means here; they are not checked against the device profile's budgets),
    held by a supernet.
    The client's own architecture is left out when anything else fits."""
    families = sorted(maxima) if cross_family else [own.family]
    found = []
    for family in families:
        top = maxima[family]
        widths = sorted({w for w in (*SIMULATED_WIDTHS, own.width)
                         if w <= min(own.width, top.width)})
        for width in widths:
            for depth in range(1, min(own.depth, top.depth) + 1):
                found.append(ArchSpec(family, width, depth))
    others = [a for a in found if a != own]
    return others or [own]


def simulated_extractor(module: Extractor, supernet: StateDict, noise_std: float,
                        generator: torch.Generator) -> Extractor:
    """Load `module` with its slice of `supernet` plus Gaussian weight noise."""
    state = slice_state(supernet, weights(module))
    if noise_std > 0:
        state = {k: (v + noise_std * torch.randn(v.shape, generator=generator)
                     if v.is_floating_point() else v) for k, v in state.items()}
    load_weights(module, state)
    if module.training:  # eval() walks every submodule, so only when needed
        module.eval()  # fixed norm statistics; with train_simulated the views still get gradients
    return module


def draw_archs(candidates: list[ArchSpec], count: int, rng: np.random.Generator) -> list[ArchSpec]:
    return [candidates[int(i)] for i in rng.integers(0, len(candidates), size=count)]
