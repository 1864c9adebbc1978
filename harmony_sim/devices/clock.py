"""A client's simulated device clock: each training step's measured host time, scaled by
host GFLOP/s / device GFLOP/s, is charged to the device."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class DeviceClock:
    """Charges per step: the time the consumer spends between taking a batch and asking for the
    next one (one forward/backward/update), minus what `server_busy` reports as server work."""

    def __init__(self, time_scale: float,
                 server_busy: Callable[[], float] | None = None,
                 seconds_per_sample: float | None = None) -> None:
        """`server_busy()` returns cumulative host seconds of server-side work done inside the
        steps (the server replica's `busy_s`); that time is not charged to the device. With
        `seconds_per_sample` (the FLOPs clock) each step is charged that much per sample of its
        batch instead of measured time, so device time is deterministic."""
        self.time_scale = time_scale
        self.host_s = 0.0
        self.steps_charged = 0
        self._server_busy = server_busy or (lambda: 0.0)
        self.seconds_per_sample = seconds_per_sample
        self._flops_s = 0.0

    @property
    def device_s(self) -> float:
        if self.seconds_per_sample is not None:
            return self._flops_s
        return self.host_s * self.time_scale

    def steps(self, batches: Iterable[T]) -> Iterator[T]:
        for batch in batches:
            busy_before = self._server_busy()
            started = time.perf_counter()
            yield batch
            elapsed = time.perf_counter() - started
            self.host_s += max(elapsed - (self._server_busy() - busy_before), 0.0)
            self.steps_charged += 1
            if self.seconds_per_sample is not None:
                self._flops_s += self.seconds_per_sample * len(batch[0])  # type: ignore[index]
