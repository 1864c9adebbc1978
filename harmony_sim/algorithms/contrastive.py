"""Server-side contrastive alignment: projection head g, InfoNCE with a bounded negative queue."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.models import CutSpec


def build_projection(cut: CutSpec, dim: int, hidden: int = 128) -> nn.Module:
    """g: cut tensor -> embedding (SimCLR-style two-layer MLP). It lives on the server only."""
    return nn.Sequential(nn.Flatten(), nn.Linear(cut.numel, hidden), nn.ReLU(),
                         nn.Linear(hidden, dim))


def info_nce(anchors: Tensor, positives: Tensor, negatives: Tensor | None,
             tau: float) -> Tensor:
    """InfoNCE over L2-normalised embeddings: anchor i's positive is positives[i]; its negatives
    are the other rows of `positives` plus every row of `negatives` (the queue)."""
    anchors = F.normalize(anchors, dim=1)
    positives = F.normalize(positives, dim=1)
    logits = anchors @ positives.T
    if negatives is not None and len(negatives):
        logits = torch.cat([logits, anchors @ F.normalize(negatives, dim=1).T], dim=1)
    targets = torch.arange(len(anchors), device=anchors.device)
    return F.cross_entropy(logits / tau, targets)


def multi_view_info_nce(embeddings: Tensor, views: int, negatives: Tensor | None,
                        tau: float) -> Tensor:
    """Mean InfoNCE between view 0 (the client's own extractor) and each other view (simulated
    extractors) of the same inputs; `embeddings` stacks the views: (views * n, dim)."""
    n = len(embeddings) // views
    anchors = embeddings[:n]
    losses = [info_nce(anchors, embeddings[j * n:(j + 1) * n], negatives, tau)
              for j in range(1, views)]
    return torch.stack(losses).mean()


def enqueue(queue: Tensor | None, new: list[Tensor], size: int) -> Tensor | None:
    """Newest first, at most `size` rows (the MoCo queue's FIFO rule)."""
    parts = [t for t in new if len(t)] + ([queue] if queue is not None else [])
    if not parts or size == 0:
        return None
    return torch.cat(parts)[:size].detach().clone()
