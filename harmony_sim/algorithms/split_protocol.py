"""What crosses the cut between clients and the server back end, and the server-side step.

One step of split training: every participating client uploads its cut tensor (`CutUpload`;
several stacked views for HARMONY's simulated extractors; labels only under the shared-label
protocol). `ServerTrainer` runs the back end on ALL uploads of the step together, and answers:
- shared labels (SplitGP, SplitFed): `step` computes each client's CE itself, takes one optimiser
  step and returns each client's dL/dcut;
- private labels (HARMONY, U-shaped): `forward` returns each client's logits, the clients answer
  dL/dlogits computed against labels that never leave them (`server_ce_grad`), then `backward`
  takes the optimiser step and returns dL/dcut.
The server's parameter gradient is the sample-weighted mean over the step's clients (each
client's loss is the mean over its own batch); each client receives the gradient of its own
loss. The same trainer serves the lockstep server actor (all participants, one model) and the
SplitFed-V1 scheme (one replica per client in its pool, averaged after the round)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.aggregation import clone_state
from harmony_sim.algorithms.contrastive import enqueue, multi_view_info_nce

BACKEND = "server"  # global-model component names of the server-side modules
PROJECTION = "projection"


@dataclass
class CutUpload:
    """One client's upload for one step: `views` stacked views of its batch (view 0 is its own
    extractor's cut); `labels` travel only under the shared-label protocol."""

    client_id: int
    cut: Tensor
    views: int = 1
    labels: Tensor | None = None
    view_grads: bool = False  # also return dL/dcut of the simulated views (they are trained)

    @property
    def samples(self) -> int:
        return len(self.cut) // self.views


@dataclass
class CutGradient:
    """The server's answer for one client: dL/dcut of view 0, and the server CE it computed
    (None under private labels: only the client knows it)."""

    grad: Tensor
    server_loss: float | None = None
    simulated: Tensor | None = None  # dL/dcut of the other views, when the upload asked for it

    def to(self, device: torch.device) -> CutGradient:
        return CutGradient(self.grad.to(device), self.server_loss,
                           None if self.simulated is None else self.simulated.to(device))


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
class ContrastiveAlignment:
    """HARMONY's server-side InfoNCE: positives are the same input through different extractors;
    negatives are the step's other inputs (every client's) plus a bounded queue of recent
    features, which the trainer keeps across steps."""

    weight: float
    tau: float
    queue_size: int
    queue: Tensor | None = None


def view_ce(logits: Tensor, labels: Tensor, views: int) -> Tensor:
    """CE of the client's own view plus the mean CE over simulated views (same labels)."""
    n = len(labels)
    ce = F.cross_entropy(logits[:n], labels)
    if views > 1:
        ce = ce + F.cross_entropy(logits[n:], labels.repeat(views - 1))
    return ce


def server_ce_grad(logits: Tensor, labels: Tensor, views: int,
                   weight: float) -> tuple[Tensor, float]:
    """d(weight * CE)/dlogits and the CE: computed by the client under private labels, by the
    server under shared labels."""
    logits = logits.detach().requires_grad_(True)
    ce = view_ce(logits, labels, views)
    (weight * ce).backward()
    assert logits.grad is not None
    return logits.grad, float(ce.detach())


def client_loss(exit_loss: Tensor | None, exit_weight: float,
                answered: Sequence[tuple[Tensor | None, Tensor | None]]) -> Tensor | None:
    """The loss whose backward is a client's step: exit_weight * its exit CE (summed over the
    clients of a stack) plus, for each (output, server's dL/d(output)) pair with a gradient,
    the surrogate (output * grad).sum(), which chains the server's gradient into the client's
    weights. None when nothing carries a gradient (no exit loss to weigh, no answer)."""
    terms = []
    if exit_loss is not None and exit_weight > 0:
        terms.append(exit_weight * exit_loss.sum())
    terms += [(out * grad).sum() for out, grad in answered if out is not None and grad is not None]
    return sum(terms[1:], terms[0]) if terms else None


@dataclass
class _PendingStep:
    uploads: list[CutUpload]
    cuts: Tensor
    logits: Tensor
    offsets: list[int]


@dataclass
class ServerTrainer:
    """The server-side modules (named as global-model components), their optimiser and the step
    protocol. `loss_weight` is (1 - gamma) for algorithms with an exit, 1 otherwise."""

    modules: nn.ModuleDict
    optimizer: torch.optim.Optimizer
    loss_weight: float = 1.0
    contrastive: ContrastiveAlignment | None = None
    record: bool = False
    received: list[ReceivedMessage] = field(default_factory=list)
    samples_seen: int = 0
    contrastive_sum: float = 0.0
    # View-0 embeddings, newest last, for the replica scheme to offer to the server's queue
    # (the lockstep trainer feeds its own queue and keeps none).
    keep_features: bool = False
    new_features: list[Tensor] = field(default_factory=list)
    _pending: _PendingStep | None = None

    @property
    def backend(self) -> nn.Module:
        return self.modules[BACKEND]

    def state(self) -> dict[str, dict[str, Tensor]]:
        """Component name -> state dict (cloned, on the CPU, in torch's default layout), for the
        global model."""
        return {name: clone_state(module.state_dict()) for name, module in self.modules.items()}

    @property
    def device(self) -> torch.device:
        return next(self.backend.parameters()).device

    def _receive(self, kind: str, **tensors: Tensor) -> None:
        if self.record:
            self.received.append(ReceivedMessage(
                kind, {k: (str(v.dtype), tuple(v.shape)) for k, v in tensors.items()}))

    def forward(self, uploads: Sequence[CutUpload]) -> dict[int, Tensor]:
        """Run the back end on every upload of the step; each client's logits (all its views).
        The graph is kept for `backward`."""
        uploads = sorted(uploads, key=lambda u: u.client_id)  # independent of pool layout
        for u in uploads:
            if u.labels is None:
                self._receive("cut", cut=u.cut)
            else:
                self._receive("cut+labels", cut=u.cut, labels=u.labels)
        offsets = [0]
        for u in uploads:
            offsets.append(offsets[-1] + len(u.cut))
        cuts = torch.cat([u.cut.to(self.device) for u in uploads]).detach().requires_grad_(True)
        logits = self.backend(cuts)
        self._pending = _PendingStep(uploads, cuts, logits, offsets)
        return {u.client_id: logits[offsets[i]:offsets[i + 1]].detach()
                for i, u in enumerate(uploads)}

    def backward(self, logit_grads: Mapping[int, Tensor],
                 server_losses: Mapping[int, float] | None = None) -> dict[int, CutGradient]:
        """One optimiser step from the clients' dL/dlogits (plus the contrastive loss); each
        client's dL/dcut of its own view."""
        for grad in logit_grads.values():
            self._receive("logit-grads", grad=grad)
        return self._step_from_logit_grads(logit_grads, server_losses)

    def _step_from_logit_grads(self, logit_grads: Mapping[int, Tensor],
                               server_losses: Mapping[int, float] | None,
                               ) -> dict[int, CutGradient]:
        pending = self._pending
        if pending is None:
            raise RuntimeError("backward() without a preceding forward()")
        self._pending = None
        uploads, cuts, offsets = pending.uploads, pending.cuts, pending.offsets
        # The server's gradient is the sample-weighted mean of the clients' (one centralised step
        # on the step's concatenated batch; the plain mean over clients for equal batches).
        # Weighting each client's surrogate by w scales its cut gradient by w as well, so that
        # is divided out below: each client receives the gradient of its own loss.
        total = sum(u.samples for u in uploads)
        weights = [u.samples / total for u in uploads]
        loss = cuts.new_zeros(())
        for i, u in enumerate(uploads):
            block = pending.logits[offsets[i]:offsets[i + 1]]
            loss = loss + weights[i] * (block * logit_grads[u.client_id].to(block.device)).sum()
        if self.contrastive is not None and self.contrastive.weight > 0:
            loss = loss + self.contrastive.weight * self._alignment_loss(cuts, uploads, offsets,
                                                                         weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        assert cuts.grad is not None
        losses = server_losses or {}
        answers = {}
        for i, u in enumerate(uploads):
            self.samples_seen += u.samples
            block = cuts.grad[offsets[i]:offsets[i + 1]] / weights[i]
            answers[u.client_id] = CutGradient(
                block[:u.samples], losses.get(u.client_id),
                block[u.samples:] if u.view_grads and u.views > 1 else None)
        return answers

    def step(self, uploads: Sequence[CutUpload]) -> dict[int, CutGradient]:
        """Shared-label protocol: the server computes each client's CE from the labels sent."""
        logits = self.forward(uploads)
        grads, losses = {}, {}
        for u in uploads:
            if u.labels is None:
                raise ValueError(f"client {u.client_id}: the shared-label step needs labels")
            grads[u.client_id], losses[u.client_id] = server_ce_grad(
                logits[u.client_id], u.labels.to(self.device), u.views, self.loss_weight)
        return self._step_from_logit_grads(grads, losses)

    def _alignment_loss(self, cuts: Tensor, uploads: Sequence[CutUpload],
                        offsets: Sequence[int], weights: Sequence[float]) -> Tensor:
        """Weighted sum over clients of the InfoNCE between each client's own view and its
        simulated views; negatives: the other clients' inputs of this step and the queue."""
        align = self.contrastive
        assert align is not None
        embeddings = self.modules[PROJECTION](cuts)
        own = [embeddings[offsets[i]:offsets[i] + u.samples] for i, u in enumerate(uploads)]
        total = cuts.new_zeros(())
        for i, u in enumerate(uploads):
            if u.views < 2:
                continue
            others = [e.detach() for j, e in enumerate(own) if j != i]
            if align.queue is not None:
                others.append(align.queue)
            negatives = torch.cat(others) if others else None
            total = total + weights[i] * multi_view_info_nce(
                embeddings[offsets[i]:offsets[i + 1]], u.views, negatives, align.tau)
        self.contrastive_sum += float(total.detach())
        fresh = torch.cat(own).detach()
        if self.keep_features:
            self.new_features.append(fresh)
        align.queue = enqueue(align.queue, [fresh], align.queue_size)
        return total
