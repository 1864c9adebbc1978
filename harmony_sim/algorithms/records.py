"""The records an algorithm's hooks pass around: the global model, one client's modules, one
step's forward pass, a client's training figures. Plain data, so the vectorised step and the
runtime can use them without the Algorithm class."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from harmony_sim.aggregation import StateDict
from harmony_sim.algorithms.split_protocol import CutUpload
from harmony_sim.models import ArchSpec, Extractor, place
from harmony_sim.models.weights import parameters

PersonalState = dict[str, StateDict]


@dataclass
class GlobalModel:
    """The server's shared state: named component state dicts plus the round it belongs to."""

    components: dict[str, StateDict]
    round: int = 0
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class ClientModels:
    """The modules one client trains and evaluates with (head is None without an early exit).
    Each client gets its own instances: in a lockstep round many clients of one architecture
    are mid-step at once."""

    arch: ArchSpec
    extractor: Extractor
    head: nn.Module | None
    shared: GlobalModel | None = None  # the global state this client's round started from
    client_id: int = -1  # seeds per-client random draws
    simulated: list[Extractor] = field(default_factory=list)  # HARMONY's simulated extractors
    simulated_archs: list[ArchSpec] = field(default_factory=list)
    simulated_start: list[StateDict] = field(default_factory=list)  # their weights as drawn

    def parameters(self) -> list[nn.Parameter]:
        """Everything the client's optimiser steps (simulated extractors too: they get no
        gradient unless HARMONY trains them)."""
        params = [*self.extractor.parameters(), *(p for e in self.simulated
                                                  for p in e.parameters())]
        if self.head is not None:
            params += list(self.head.parameters())
        return params

    def to(self, device: torch.device) -> ClientModels:
        """Move the modules (simulated extractors too) to `device`, in its layout (those already
        there are left: they came placed from Algorithm.instance, and a move walks every layer)."""
        for module in [self.extractor, self.head, *self.simulated]:
            if module is not None and parameters(module)[0].device != device:
                place(module, device)
        return self


@dataclass
class ClientForward:
    """One client's forward pass of one step: its cut (with the autograd graph), the exit loss,
    and what it uploads (views stacked, detached; None without a server)."""

    cut: Tensor
    exit_loss: Tensor | None
    upload: CutUpload | None
    labels: Tensor  # the labels of the uploaded views' inputs; they stay on the device
    samples: int  # training samples this step used (the meta support half included)
    simulated_cut: Tensor | None = None  # simulated views with their graph, when they train


@dataclass
class TrainStats:
    """Per-client training figures for one round."""

    samples: int = 0
    batches: int = 0
    exit_loss: float = 0.0
    server_loss: float = 0.0
