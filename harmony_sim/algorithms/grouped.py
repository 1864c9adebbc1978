"""Many convolutional modules of one structure run as one module on their inputs laid side by
side along the channels: K clients' (batch, C, H, W) inputs become one (batch, K * C, H, W)
tensor, each convolution a grouped convolution (groups times K), each GroupNorm one of K times
the groups. Every output channel still sees only its own client's channels and weights, so the
result is each client's own; unlike vmap on CPU there is no per-layer re-layout of the
activations and GroupNorm's affine stays fused (benchmarks/vectorised.py).

Works for modules built from the layers below (channel-local layers run as they are); anything
else says why not (`grouped_twin`), and the caller runs that structure with vmap instead."""

from __future__ import annotations

import copy

from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

from harmony_sim.models.split_model import Extractor

Params = dict[str, Tensor]

# Containers whose own forward only chains children and adds tensors of one layout.
CONTAINERS = (nn.Sequential, Extractor, BasicBlock, InvertedResidual)
# Leaves that act on each channel by itself (no weights): the same call on the wide tensor.
CHANNEL_LOCAL = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh,
                 nn.Identity, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)


class _Binding:
    """The stacked weights and client count of the call in progress, read by every grouped
    layer."""

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
                        self.dilation, self.groups * weight.shape[0])


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


GROUPED = {nn.Conv2d: GroupedConv2d, nn.GroupNorm: GroupedGroupNorm}


class GroupedTwin:
    """A weightless copy of one module whose convolutions and norms take K stacked weight sets
    on K clients' inputs side by side (see the module docstring)."""

    def __init__(self, module: nn.Module, binding: _Binding) -> None:
        self.module, self.binding = module, binding

    def __call__(self, params: Params, x: Tensor) -> Tensor:
        """x: (K, batch, C, H, W) -> (K, batch, ...) with row k from weights params[...][k]."""
        clients, batch = x.shape[:2]
        wide = x.transpose(0, 1).reshape(batch, clients * x.shape[2], *x.shape[3:])
        self.binding.params, self.binding.clients = params, clients
        try:
            out = self.module(wide)
        finally:
            self.binding.params = None
        return out.view(batch, clients, -1, *out.shape[2:]).transpose(0, 1).contiguous()


def grouped_twin(module: nn.Module) -> GroupedTwin | str:
    """The grouped twin of `module`, or why its structure cannot run grouped."""
    if any(True for _ in module.buffers()):
        return "modules with buffers"
    for name, m in module.named_modules():
        kind = type(m)
        if kind is nn.Conv2d and m.padding_mode != "zeros":
            return f"{name}: padding mode {m.padding_mode}"
        if kind not in GROUPED and not isinstance(m, CONTAINERS + CHANNEL_LOCAL):
            return f"{name}: {kind.__name__} has no grouped form"
        if isinstance(m, CONTAINERS) and any(True for _ in m.parameters(recurse=False)):
            return f"{name}: {kind.__name__} holds its own weights"
    binding = _Binding()
    twin = copy.deepcopy(module)
    for name, m in list(twin.named_modules()):
        make = GROUPED.get(type(m))
        if make is not None:
            parent, _, child = name.rpartition(".")
            twin.get_submodule(parent).register_module(child, make(m, name, binding))
    assert not any(True for _ in twin.parameters()), "every weight comes from the stack"
    return GroupedTwin(twin, binding)
