"""The memory layout a model computes in on its device: channels_last on CPU.

On CPU, oneDNN runs convolutions, GroupNorm and the element-wise ops between them in NHWC
(channels_last) without reordering every tensor to and from its own blocked layout, and a client's
training step ran 1.2-1.4x faster that way on every family here (inference 1.3-1.7x; see
benchmarks/channels_last.py). A 1-channel input (MNIST) is the same bytes in either layout, so
torch decides by the weights: they are what gets converted. Other devices keep torch's default
(contiguous) layout: nothing was measured there.

Only modules placed for computing change layout; the cached templates (and so every seeded
initial draw) stay contiguous, the cut tensor leaves the extractor contiguous
(split_model.Extractor), and weights kept beyond a round (the global model, personal states:
aggregation.clone_state) are copied to the CPU in torch's default layout, so messages,
checkpoints and stored states never depend on where a module computed."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

CPU = torch.device("cpu")
M = TypeVar("M", bound=nn.Module)


def compute_format(device: torch.device) -> torch.memory_format:
    """The layout 4-D weights (and so activations) take on `device`."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def place(module: M, device: torch.device) -> M:
    """`module` moved (in place) to `device`, its 4-D weights in that device's layout."""
    return module.to(device, memory_format=compute_format(device))
