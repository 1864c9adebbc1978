"""Seconds of compute per inference request: on a device (FLOPs / its GFLOP/s) and on the server
(FLOPs / a server profile's GFLOP/s, or the back end timed on this host)."""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from harmony_sim.algorithms.base import Algorithm
from harmony_sim.devices import DeviceProfile
from harmony_sim.models import ArchSpec, place
from harmony_sim.models.cost import module_cost
from harmony_sim.models.layout import CPU

HOST_TIMING_REPEATS = 200


def device_seconds(algorithm: Algorithm, arch: ArchSpec, input_shape: tuple[int, ...],
                   profile: DeviceProfile) -> float:
    """Forward pass of the extractor and exit head for one sample on `profile`."""
    cut = algorithm.context.cut.shape
    flops = module_cost(algorithm.extractor_module(arch), input_shape).forward_flops
    if algorithm.has_exit:
        flops += module_cost(algorithm.head_module(arch), cut).forward_flops
    return flops / (profile.compute_gflops * 1e9)


def backend_flops(algorithm: Algorithm) -> int:
    return module_cost(algorithm.backend_module(), algorithm.context.cut.shape).forward_flops


@torch.no_grad()
def host_backend_seconds(backend: nn.Module, cut_shape: tuple[int, ...],
                         repeats: int = HOST_TIMING_REPEATS) -> float:
    """Median wall time of the back end on one cut tensor on this host, one torch thread (one
    server worker = one core), in the layout it computes in on CPU (models/layout.py), on a copy
    (`backend` is left as it is). A measurement: it varies a little between runs and hosts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    timed = place(copy.deepcopy(backend), CPU).eval()
    try:
        x = torch.randn(1, *cut_shape)
        for _ in range(10):  # warm-up: first calls allocate
            timed(x)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            timed(x)
            times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return sorted(times)[len(times) // 2]
