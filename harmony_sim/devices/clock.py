"""A client's simulated device clock: each training step's measured host time, scaled by
host GFLOP/s / device GFLOP/s, is charged to the device."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class DeviceClock:
    """Charges per step: the time the consumer spends between taking a batch and asking for the
    next one (one forward/backward/update), minus calls marked as not device work."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self.host_s = 0.0
        self.steps_charged = 0
        self._excluded = 0.0

    @property
    def device_s(self) -> float:
        return self.host_s * self.time_scale

    def steps(self, batches: Iterable[T]) -> Iterator[T]:
        for batch in batches:
            self._excluded = 0.0
            started = time.perf_counter()
            yield batch
            self.host_s += max(time.perf_counter() - started - self._excluded, 0.0)
            self.steps_charged += 1

    def exclude(self, owner: Any, method: str) -> None:
        """Time spent in `owner.method` (e.g. the server replica's step) is not charged."""
        inner: Callable[..., Any] = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self._excluded += time.perf_counter() - started

        setattr(owner, method, timed)
