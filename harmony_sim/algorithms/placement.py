"""Where training runs: the torch device of `runtime.device`, how many clients one stacked call
may hold, waiting for a device's queued work (for timing), and logging such decisions once per
process."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable

import psutil
import torch

from harmony_sim.errors import UserInputError

log = logging.getLogger(__name__)
MEMORY_SHARE = 0.5  # share of the memory budget one stacked call may take
# On CPU a client step is the convolutions' work, so stacking saves only overhead, while grouped
# convolutions, GroupNorm over the wide tensor and a call's activations (growing with its
# clients, out of cache) cost more per client than that saves. Measured (benchmarks/vectorised.py,
# quickstart model, 100 participants x 512, batch 32, both in channels_last): stacked 0.91-1.02x
# the speed of clients in turn with one thread, 0.96-1.10x with two (level, within noise); so on
# CPU only `vectorise: on` stacks, and then at most this many clients a call.
CPU_GROUP = 2  # most clients a call on CPU with one pool thread
CPU_GROUP_THREADED = 4  # with two or more


def resolve_device(setting: str) -> torch.device:
    """auto: cuda when torch sees a GPU in this process (a Ray actor without a GPU share sees
    none), else cpu; cuda without a GPU is an input error."""
    if setting == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if setting == "cuda" and not available:
        raise UserInputError("runtime.device: cuda, but torch sees no GPU in this process; "
                             "use auto or cpu (or give the actors a GPU share)")
    return torch.device("cuda" if available else "cpu")


def budget_bytes(device: torch.device) -> int:
    """The memory this process plans its stacked calls in: on cuda its share of the GPU's total
    memory (a Ray actor's GPU share), fixed for the run so that a repeated or resumed run
    chunks alike (free memory moves with torch's caching allocator); on CPU the free memory."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory * _gpu_share())
    return int(psutil.virtual_memory().available)


def _gpu_share() -> float:
    ray = sys.modules.get("ray")  # only a Ray actor has a share; never import Ray for this
    if ray is None or not ray.is_initialized():
        return 1.0
    return min(1.0, float(ray.get_runtime_context().get_assigned_resources().get("GPU", 1.0)))


def stacks_by_default(device: torch.device) -> bool:
    """runtime.vectorise: auto. Stacked on cuda, where a small client model's step is bound by
    kernel launches; in turn on CPU, where stacking measured slower (see CPU_GROUP)."""
    return device.type != "cpu"


def group_limit(configured: int | None, device: torch.device, bytes_per_client: int,
                threads: int = 1) -> int:
    """Clients per stacked call: `runtime.max_group`, else what MEMORY_SHARE of the device's
    budget holds at `bytes_per_client` (on CPU at most CPU_GROUP, or CPU_GROUP_THREADED for a
    pool of several threads)."""
    if configured is not None:
        return configured
    fits = max(1, int(MEMORY_SHARE * budget_bytes(device)) // max(1, bytes_per_client))
    if device.type != "cpu":
        return fits
    return min(fits, CPU_GROUP if threads <= 1 else CPU_GROUP_THREADED)


def device_sync(device: torch.device) -> Callable[[], None] | None:
    """What waits for `device`'s queued work (None on CPU, where calls finish as they return):
    CUDA calls return before the GPU has run them, so a timer must wait at both ends."""
    if device.type == "cuda":
        return functools.partial(torch.cuda.synchronize, device)
    return None


_logged: set[str] = set()


def log_once(message: str, level: int = logging.INFO) -> None:
    """Log a placement decision once per process, not every round."""
    if message not in _logged:
        _logged.add(message)
        log.log(level, message)
