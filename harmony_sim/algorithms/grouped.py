"""K modules of one structure run as one module over their stacked weights.

Convolutional trunks (`wide`): the K clients' (batch, C, H, W) inputs lie side by side along
the channels, (batch, K * C, H, W), in channels_last (each pixel's K * C channels together: the
CPU's fast layout, models/layout.py, and the stacked input's natural one); each convolution
becomes a grouped one (groups times K), each GroupNorm one of K times the groups. Every output
channel still sees only its own client's channels and weights, so each client's result is its
own. Linear heads: batched matrix products over a leading client dim. On CPU this is 2-3x faster
than vmap, which re-lays the activations out around every convolution and splits GroupNorm's
fused affine into separate passes (benchmarks/vectorised.py).

Works for modules built from the layers below (channel-local ones run as they are); for anything
else `grouped_twin` says why not, and the caller runs that structure with vmap."""

from __future__ import annotations

import copy
import threading

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

from harmony_sim.models.split_model import Extractor

Params = dict[str, Tensor]

# Containers whose own forward only chains children and adds tensors of one layout.
CONTAINERS = (nn.Sequential, Extractor, BasicBlock, InvertedResidual)
# Leaves without weights that act on each element, or each channel, by itself: the same call
# on the stacked tensor.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh,
               nn.Identity)
CHANNEL_LOCAL = (*ELEMENTWISE, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)


class _Binding(threading.local):
    """The stacked weights and client count of the call in progress, read by every grouped
    layer (per thread: one twin serves every stack of its structure in the process)."""

    params: Params | None = None
    clients: int = 0


class GroupedConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d, name: str, binding: _Binding) -> None:
        super().__init__()
        self.name, self.binding = name, binding
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups, self.has_bias = conv.groups, conv.bias is not None

    def forward(self, x: Tensor) -> Tensor:
        params = self.binding.params
        assert params is not None
        weight = params[f"{self.name}.weight"]  # (K, out, in / groups, kh, kw)
        bias = params[f"{self.name}.bias"].flatten() if self.has_bias else None
        return F.conv2d(x, weight.flatten(0, 1), bias, self.stride, self.padding,
                        self.dilation, self.groups * self.binding.clients)


class GroupedGroupNorm(nn.Module):
    def __init__(self, norm: nn.GroupNorm, name: str, binding: _Binding) -> None:
        super().__init__()
        self.name, self.binding = name, binding
        self.num_groups, self.eps, self.affine = norm.num_groups, norm.eps, norm.affine

    def forward(self, x: Tensor) -> Tensor:
        params = self.binding.params
        assert params is not None
        weight = params[f"{self.name}.weight"].flatten() if self.affine else None
        bias = params[f"{self.name}.bias"].flatten() if self.affine else None
        return F.group_norm(x, self.num_groups * self.binding.clients, weight, bias, self.eps)


class RowsLinear(nn.Module):
    def __init__(self, linear: nn.Linear, name: str, binding: _Binding) -> None:
        super().__init__()
        self.name, self.binding, self.has_bias = name, binding, linear.bias is not None

    def forward(self, x: Tensor) -> Tensor:
        params = self.binding.params
        assert params is not None
        weight = params[f"{self.name}.weight"].transpose(1, 2)  # (K, in, out)
        if self.has_bias:
            return torch.baddbmm(params[f"{self.name}.bias"].unsqueeze(1), x, weight)
        return torch.bmm(x, weight)


class RowsFlatten(nn.Module):
    def __init__(self, flatten: nn.Flatten, name: str, binding: _Binding) -> None:
        super().__init__()
        end = flatten.end_dim
        self.start, self.end = flatten.start_dim + 1, end + 1 if end >= 0 else end

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start, self.end)


# Wide layout (clients side by side along the channels): convolutional trunks.
WIDE = {nn.Conv2d: GroupedConv2d, nn.GroupNorm: GroupedGroupNorm}
# Rows layout (clients along a leading dim, (K, batch, features)): linear heads.
ROWS = {nn.Linear: RowsLinear, nn.Flatten: RowsFlatten}


class GroupedTwin:
    """A weightless copy of one module whose layers take K stacked weight sets on K clients'
    inputs at once: side by side along the channels (`wide`, see the module docstring) or as
    batched matrix products over a leading client dim (linear heads)."""

    def __init__(self, module: nn.Module, binding: _Binding, wide: bool) -> None:
        self.module, self.binding, self.wide = module, binding, wide

    def __call__(self, params: Params, x: Tensor) -> Tensor:
        """x: (K, batch, ...) -> (K, batch, ...) with row k from weights params[...][k]."""
        clients, batch = x.shape[:2]
        self.binding.params, self.binding.clients = params, clients
        try:
            if not self.wide:
                return self.module(x)
            # (K, batch, C, H, W) -> (batch, H, W, K, C): the wide tensor in channels_last.
            # Said explicitly: with C = 1 the reshape is a view whose strides torch does not read
            # as channels_last, and the whole call would run in NCHW.
            channels, height, width = x.shape[2:]
            wide = x.permute(1, 3, 4, 0, 2).reshape(batch, height, width, clients * channels)
            out = self.module(wide.permute(0, 3, 1, 2).contiguous(
                memory_format=torch.channels_last))
        finally:
            self.binding.params = None
        return out.unflatten(1, (clients, -1)).transpose(0, 1).contiguous()


def grouped_twin(module: nn.Module) -> GroupedTwin | str:
    """The grouped twin of `module`, or why its structure has none."""
    if any(True for _ in module.buffers()):
        return "modules with buffers"
    kinds = {type(m) for m in module.modules()}
    wide = bool(kinds & WIDE.keys())
    layers, local = (WIDE, CONTAINERS + CHANNEL_LOCAL) if wide else (ROWS, (nn.Sequential,
                                                                             *ELEMENTWISE))
    for name, m in module.named_modules():
        kind = type(m)
        if kind is nn.Conv2d and m.padding_mode != "zeros":
            return f"{name}: padding mode {m.padding_mode}"
        if kind not in layers and not isinstance(m, local):
            return f"{name}: {kind.__name__} has no grouped form" + \
                (" beside convolutions" if wide and kind in ROWS else "")
        if kind not in layers and any(True for _ in m.parameters(recurse=False)):
            return f"{name}: {kind.__name__} holds its own weights"
    binding = _Binding()
    twin = copy.deepcopy(module)
    for name, m in list(twin.named_modules()):
        make = layers.get(type(m))
        if make is not None:
            parent, _, child = name.rpartition(".")
            twin.get_submodule(parent).register_module(child, make(m, name, binding))
    assert not any(True for _ in twin.parameters()), "every weight comes from the stack"
    return GroupedTwin(twin, binding, wide)
