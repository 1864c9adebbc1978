"""The cost model against a hand count for a tiny network."""

from __future__ import annotations

import torch
from torch import nn

from harmony_sim.models import ArchSpec, CutSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import (
    arch_cost,
    module_cost,
    saved_activation_bytes,
)


def tiny_net() -> nn.Module:
    # Conv2d(1 -> 2, 3x3, padding 1) on 1x4x4, then Linear(32 -> 3).
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=True), nn.Flatten(),
                         nn.Linear(32, 3))


def test_flops_and_params_match_a_hand_count() -> None:
    cost = module_cost(tiny_net(), (1, 4, 4))
    conv_macs = 2 * 4 * 4 * (1 * 3 * 3)  # 32 outputs x 9 MACs = 288
    linear_macs = 32 * 3  # 96
    forward = 2 * (conv_macs + linear_macs)  # a MAC is 2 FLOPs: 768
    # backward: conv weight grad (input needs no grad) 2*288; linear input + weight grads 2*2*96
    backward = 2 * conv_macs + 2 * 2 * linear_macs
    assert cost.params == (2 * 9 + 2) + (32 * 3 + 3)
    assert cost.forward_flops == forward
    assert cost.train_flops == forward + backward


def test_saved_activations_match_a_hand_count() -> None:
    batch = 5
    x = torch.randn(batch, 1, 4, 4)
    # conv saves its input (5x1x4x4); linear saves its input (the conv output, 5x32);
    # weights are parameters and not counted again
    assert saved_activation_bytes(tiny_net(), x) == 4 * (batch * 16 + batch * 32)


def test_arch_cost_peak_memory_adds_up_and_grows_with_batch() -> None:
    ctx = ModelContext((1, 8, 8), 10, CutSpec(16, 2))
    small = arch_cost(ArchSpec("plain_cnn", 0.5, 1), ctx, 8)
    big = arch_cost(ArchSpec("plain_cnn", 0.5, 1), ctx, 32)
    assert small.peak_train_bytes == 3 * small.param_bytes + small.activation_bytes + 8 * 64 * 4
    assert big.activation_bytes > small.activation_bytes
    assert small.cut_bytes == 16 * 2 * 2 * 4
    assert small.params == big.params and small.train_flops == big.train_flops
