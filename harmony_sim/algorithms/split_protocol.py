"""What crosses the cut between a client and the server back end, in messages the server side
can log: cut tensors go up (with labels only under the shared-label protocol), gradients or
logits come down. Every message is counted in bytes for the network model."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.algorithms.contrastive import multi_view_info_nce

F_ = TypeVar("F_", bound=Callable[..., Any])


def server_work(method: F_) -> F_:
    """Times a server-side step into `busy_s`, so the client's device clock can leave it out."""

    @functools.wraps(method)
    def timed(self: ServerReplica, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.busy_s += time.perf_counter() - started

    return timed  # type: ignore[return-value]


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
    loss_sum: float = 0.0  # unweighted server CE summed over batches (shared-label protocol)
    # Contrastive alignment (HARMONY): negatives from other clients, kept by the server across
    # rounds; the features this replica produced, offered to the queue after the round.
    negatives: Tensor | None = None
    tau: float = 0.1
    contrastive_weight: float = 0.0
    new_features: list[Tensor] = field(default_factory=list)
    contrastive_sum: float = 0.0
    busy_s: float = 0.0  # host seconds spent in server-side steps (not device time)

    @property
    def backend(self) -> nn.Module:
        return self.modules["backend"]

    def receive(self, kind: str, **tensors: Tensor) -> None:
        """Log and count a client -> server message."""
        self.traffic.up(*tensors.values())
        if self.record:
            self.received.append(ReceivedMessage(
                kind, {k: (str(v.dtype), tuple(v.shape)) for k, v in tensors.items()}))

    @server_work
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

    @server_work
    def train_views(self, cuts: Tensor, views: int, labels: Tensor | None = None,
                    logit_grad: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """HARMONY's server step on `views` stacked views of one batch (view 0: the client's own
        extractor; the others: simulated extractors on the same inputs); returns dL/dcut for
        view 0 only.

        Shared labels: the client sends cuts + labels and the server computes view_ce itself.
        Private labels (U-shaped): the client sends cuts only; the server sends the logits down
        and `logit_grad` (which runs on the client, holding the labels) answers dL/dlogits.
        Contrastive alignment (when `contrastive_weight` > 0 and a projection head exists)
        needs no label: InfoNCE between the views through g, negatives from `negatives`."""
        if (labels is None) == (logit_grad is None):
            raise ValueError("give labels (shared protocol) or logit_grad (private), not both")
        n = len(cuts) // views
        if labels is not None:
            self.receive("cut+labels", cut=cuts, labels=labels)
        else:
            self.receive("cut", cut=cuts)
        cuts = cuts.detach().requires_grad_(True)
        logits = self.backend(cuts)
        if labels is not None:
            ce = view_ce(logits, labels, views)
            self.loss_sum += float(ce.detach())
            loss = self.loss_weight * ce
        else:
            assert logit_grad is not None
            sent = logits.detach()
            self.traffic.down(sent)
            grad_logits = logit_grad(sent)
            self.receive("logit-grads", grad=grad_logits)
            loss = (logits * grad_logits).sum()  # surrogate: d/dlogits = the client's gradient
        if self.contrastive_weight > 0 and views > 1 and "projection" in self.modules:
            embeddings = self.modules["projection"](cuts)
            contrastive = multi_view_info_nce(embeddings, views, self.negatives, self.tau)
            loss = loss + self.contrastive_weight * contrastive
            self.contrastive_sum += float(contrastive.detach())
            self.new_features.append(embeddings[:n].detach())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.samples_seen += n
        assert cuts.grad is not None
        grad = cuts.grad[:n]
        self.traffic.down(grad)
        return grad


def view_ce(logits: Tensor, labels: Tensor, views: int) -> Tensor:
    """CE of the client's own view plus the mean CE over simulated views (same labels)."""
    n = len(labels)
    ce = F.cross_entropy(logits[:n], labels)
    if views > 1:
        ce = ce + F.cross_entropy(logits[n:], labels.repeat(views - 1))
    return ce
