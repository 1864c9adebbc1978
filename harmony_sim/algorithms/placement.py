"""Where training runs: the torch device of `runtime.device`, whether to vectorise, how many
clients one stacked call may hold."""

from __future__ import annotations

import logging

import psutil
import torch

from harmony_sim.errors import UserInputError

log = logging.getLogger(__name__)
MEMORY_SHARE = 0.5  # share of the free memory one stacked call may take
# On CPU a call's activations grow with its clients and fall out of cache: the quickstart model
# at batch 32, grouped, is 1.06x clients in turn at 1-2 clients a call, 0.9x at 4, 0.84x at 8.
CPU_GROUP = 2


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


def free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def group_limit(configured: int | None, device: torch.device, bytes_per_client: int) -> int:
    """Clients per stacked call: `runtime.max_group`, else what MEMORY_SHARE of the device's
    free memory holds at `bytes_per_client` (on CPU at most CPU_GROUP)."""
    if configured is not None:
        return configured
    fits = max(1, int(MEMORY_SHARE * free_bytes(device)) // max(1, bytes_per_client))
    return min(fits, CPU_GROUP) if device.type == "cpu" else fits
