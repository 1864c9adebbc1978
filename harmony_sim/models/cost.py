"""Cost figures of an architecture: parameters, FLOPs per sample (torch.utils.flop_counter),
and the bytes of its cut tensor per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harmony_sim.models.architecture import CutSpec

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
