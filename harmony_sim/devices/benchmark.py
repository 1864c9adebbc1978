"""Micro-benchmark of the model catalogue on this host: ms per sample forward, ms per training
step and the GFLOP/s achieved (FLOPs from the cost model / measured time)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from harmony_sim.models import ArchSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import ArchCost, arch_cost, client_side_module
from harmony_sim.models.layout import CPU, place


@dataclass(frozen=True)
class ArchTiming:
    """Measured timings of one architecture's client side (median of `repeats` runs)."""

    arch: str
    batch: int
    forward_ms_per_sample: float
    train_step_ms: float
    forward_gflops: float
    train_gflops: float


def _median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2]


def time_architecture(arch: ArchSpec, ctx: ModelContext, batch: int, repeats: int = 5,
                      warmup: int = 2) -> ArchTiming:
    """Time forward (inference batch, no grad) and one SGD training step at `batch`, as the
    client pool runs them (same modules, same optimizer)."""
    cost = arch_cost(arch, ctx, batch)
    module = place(client_side_module(arch, ctx), CPU)  # in the layout the pools train in
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)  # fixed inputs: timing only
    x = torch.randn(batch, *ctx.input_shape, generator=generator)
    y = torch.randint(0, ctx.num_classes, (batch,), generator=generator)

    def forward() -> None:
        with torch.no_grad():
            module(x)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(module(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    module.eval()
    for _ in range(warmup):
        forward()
    forward_s = _median_seconds(forward, repeats)
    module.train()
    for _ in range(warmup):
        step()
    step_s = _median_seconds(step, repeats)
    return ArchTiming(arch=arch.id, batch=batch,
                      forward_ms_per_sample=forward_s * 1e3 / batch, train_step_ms=step_s * 1e3,
                      forward_gflops=cost.forward_flops * batch / forward_s / 1e9,
                      train_gflops=cost.train_step_flops() / step_s / 1e9)


def achieved_gflops(costs: list[ArchCost], timings: list[ArchTiming]) -> float:
    """Effective training GFLOP/s over the catalogue: total FLOPs / total time, so larger models
    weigh by the time they take (a ratio of sums, not a mean of ratios)."""
    flops = sum(c.train_step_flops() for c in costs)
    seconds = sum(t.train_step_ms for t in timings) / 1e3
    return flops / seconds / 1e9


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    """fp32 GFLOP/s of an n x n matrix product: the host's dense-math ceiling, against which the
    catalogue's achieved GFLOP/s gives an efficiency for small conv nets."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator)
    b = torch.randn(n, n, generator=generator)
    torch.mm(a, b)
    seconds = _median_seconds(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / seconds / 1e9
