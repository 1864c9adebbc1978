"""What crosses the cut between a client and the server back end, in messages the server side
can log: cut tensors go up (with labels only under the shared-label protocol), gradients or
logits come down. Every message is counted in bytes for the network model."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class ReceivedMessage:
    """What one server-bound message carried: its kind and the tensors' names, dtypes, shapes."""

    kind: str
    tensors: dict[str, tuple[str, tuple[int, ...]]]


@dataclass
class TrafficCounter:
    uplink_bytes: int = 0
    downlink_bytes: int = 0

    def up(self, *tensors: Tensor) -> None:
        self.uplink_bytes += sum(t.numel() * t.element_size() for t in tensors)

    def down(self, *tensors: Tensor) -> None:
        self.downlink_bytes += sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class ServerReplica:
    """A replica of the server-side modules that trains next to the clients of one pool
    (SplitFed-V1 style); the server actor merges replicas after the round."""

    modules: nn.ModuleDict
    optimizer: torch.optim.Optimizer
    loss_weight: float = 1.0
    record: bool = False
    received: list[ReceivedMessage] = field(default_factory=list)
    traffic: TrafficCounter = field(default_factory=TrafficCounter)
    samples_seen: int = 0
    loss_sum: float = 0.0  # unweighted server CE summed over batches

    @property
    def backend(self) -> nn.Module:
        return self.modules["backend"]

    def receive(self, kind: str, **tensors: Tensor) -> None:
        """Log and count a client -> server message."""
        self.traffic.up(*tensors.values())
        if self.record:
            self.received.append(ReceivedMessage(
                kind, {k: (str(v.dtype), tuple(v.shape)) for k, v in tensors.items()}))

    def train_on_cut(self, cut: Tensor, labels: Tensor) -> Tensor:
        """Shared-label protocol (SplitGP/SplitFed): CE on the back end, update it, return dL/dcut
        already scaled by the server loss weight."""
        self.receive("cut+labels", cut=cut, labels=labels)
        cut = cut.detach().requires_grad_(True)
        loss = self.loss_weight * F.cross_entropy(self.backend(cut), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.samples_seen += len(labels)
        self.loss_sum += float(loss.detach()) / max(self.loss_weight, 1e-12)
        grad = cut.grad
        assert grad is not None
        self.traffic.down(grad)
        return grad
