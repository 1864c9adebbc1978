"""A client's simulated device clock: the measured host time of its device-side work, scaled by
host GFLOP/s / device GFLOP/s, or (FLOPs clock) a fixed device time per training sample."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Elapsed:
    seconds: float = 0.0


@contextmanager
def timed(wait: Callable[[], None] | None = None) -> Iterator[Elapsed]:
    """The host seconds a block of device work takes. `wait` (None on CPU) blocks until the
    device's queued work is done (CUDA calls return before the GPU runs them), at both ends, so
    the block is charged its own kernels and not the ones queued before it."""
    elapsed = Elapsed()
    if wait is not None:
        wait()
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        if wait is not None:
            wait()
        elapsed.seconds = time.perf_counter() - started


class DeviceClock:
    """Charges the blocks of device work wrapped in `device_work()` (never the server's step,
    which runs elsewhere), and counts steps. With `seconds_per_sample` (the FLOPs clock) each
    step is charged that much per sample of its batch instead, so device time is
    deterministic."""

    def __init__(self, time_scale: float, seconds_per_sample: float | None = None,
                 wait: Callable[[], None] | None = None) -> None:
        self.time_scale = time_scale
        self.seconds_per_sample = seconds_per_sample
        self.wait = wait  # for the device's queued work (see `timed`)
        self.host_s = 0.0
        self.steps_charged = 0
        self._flops_s = 0.0

    @property
    def device_s(self) -> float:
        if self.seconds_per_sample is not None:
            return self._flops_s
        return self.host_s * self.time_scale

    @contextmanager
    def device_work(self) -> Iterator[None]:
        with timed(self.wait) as elapsed:
            yield
        self.host_s += elapsed.seconds

    def step(self, samples: int) -> None:
        """One training step of `samples` samples finished."""
        self.steps_charged += 1
        if self.seconds_per_sample is not None:
            self._flops_s += self.seconds_per_sample * samples
