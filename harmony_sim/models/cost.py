"""Cost figures of an architecture: parameters, FLOPs per sample (torch.utils.flop_counter),
the bytes of its cut tensor per sample and an estimate of its peak training memory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harmony_sim.models.architecture import ArchSpec, CutSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.split_model import build_exit_head, build_extractor

FP32_BYTES = 4


@dataclass(frozen=True)
class ModuleCost:
    """Per-sample figures of one module at one input shape."""

    params: int
    forward_flops: int  # per sample; FlopCounterMode counts a multiply-add as 2 FLOPs
    train_flops: int  # per sample: forward + backward


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def module_cost(module: nn.Module, input_shape: tuple[int, ...], batch: int = 2) -> ModuleCost:
    """Count FLOPs of a forward and of a forward+backward pass on `batch` samples of
    `input_shape`, divided by the batch. Runs on a copy in train mode, so the caller's module
    keeps its weights and mode."""
    x = torch.randn(batch, *input_shape)
    was_training = module.training
    module.train()
    with FlopCounterMode(display=False) as forward_counter:
        module(x)
    with FlopCounterMode(display=False) as train_counter:
        module(x).sum().backward()
    module.zero_grad(set_to_none=True)
    module.train(was_training)
    return ModuleCost(count_params(module), forward_counter.get_total_flops() // batch,
                      train_counter.get_total_flops() // batch)


def cut_bytes_per_sample(cut: CutSpec, bytes_per_value: int = FP32_BYTES) -> int:
    return cut.numel * bytes_per_value


@dataclass(frozen=True)
class ArchCost:
    """Cost of the whole client side (extractor + exit head) of one architecture.

    FLOPs are per sample (FlopCounterMode). `peak_train_bytes` is an ESTIMATE of the training
    working set at `batch` samples: parameters + gradients + SGD momentum buffers + the tensors
    autograd saves for backward (counted exactly with saved_tensors_hooks, unique storages) +
    the input batch. It leaves out allocator slack, kernel workspaces and the Python runtime."""

    arch: str
    params: int
    forward_flops: int
    train_flops: int
    cut_bytes: int  # per sample, fp32
    batch: int
    param_bytes: int
    activation_bytes: int  # saved for backward, at `batch`
    peak_train_bytes: int

    @property
    def capability(self) -> tuple[int, int]:
        """Order used by selection: more training FLOPs, then more parameters, is more capable."""
        return (self.train_flops, self.params)

    def train_step_flops(self) -> int:
        return self.train_flops * self.batch


def saved_activation_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd keeps for backward in one forward of `x`."""
    storages: dict[int, int] = {}
    param_ptrs = {p.data_ptr() for p in module.parameters()}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        ptr = tensor.untyped_storage().data_ptr()
        if ptr not in param_ptrs:  # weights are counted once, as parameters
            storages[ptr] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


def client_side_module(arch: ArchSpec, ctx: ModelContext) -> nn.Module:
    """Extractor followed by the exit head: what a client trains."""
    extractor = build_extractor(arch, ctx.in_channels, ctx.cut, ctx.norm)
    return nn.Sequential(extractor, build_exit_head(ctx.cut, ctx.num_classes))


@cache
def arch_cost(arch: ArchSpec, ctx: ModelContext, batch: int, momentum: bool = True) -> ArchCost:
    """Params, FLOPs, cut bytes and estimated peak training memory of `arch`'s client side."""
    module = client_side_module(arch, ctx)
    cost = module_cost(module, ctx.input_shape)
    module.train()
    x = torch.randn(batch, *ctx.input_shape)
    activations = saved_activation_bytes(module, x)
    param_bytes = cost.params * FP32_BYTES
    state_copies = 2 + (1 if momentum else 0)  # weights, grads, momentum buffer
    peak = param_bytes * state_copies + activations + x.numel() * FP32_BYTES
    return ArchCost(arch=arch.id, params=cost.params, forward_flops=cost.forward_flops,
                    train_flops=cost.train_flops, cut_bytes=cut_bytes_per_sample(ctx.cut),
                    batch=batch, param_bytes=param_bytes, activation_bytes=activations,
                    peak_train_bytes=peak)
