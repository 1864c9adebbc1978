"""Building a client's evaluation record from its model outputs: predictions, and every exit
rule's scores calibrated on the client's own training samples (what the device can compute from
the data it holds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from harmony_sim.evaluation.exit_rules import (
    ClassGaussians,
    calibrate,
    ood_auroc,
    ood_scores,
    pooled_features,
)
from harmony_sim.evaluation.hybrid import ClientEvaluation


@dataclass
class Prediction:
    """Model outputs for a set of samples (None where the algorithm has no such path)."""

    cut: Tensor
    exit_logits: Tensor | None
    server_logits: Tensor | None

    @classmethod
    def concat(cls, parts: Sequence[tuple[Tensor, Tensor | None, Tensor | None]]) -> Prediction:
        def cat(i: int) -> Tensor | None:
            return None if parts[0][i] is None else torch.cat([p[i] for p in parts])

        cut = cat(0)
        assert cut is not None
        return cls(cut, cat(1), cat(2))


def client_evaluation(client_id: int, tier: str, arch: str, labels: np.ndarray, n_id: int,
                      test: Prediction, train: Prediction | None, train_labels: np.ndarray,
                      id_classes: int,
                      server_pred_by_codec: dict[str, np.ndarray]) -> ClientEvaluation:
    """The record of one client's test set (its `n_id` ID samples first, then OOD samples).
    `train` holds the outputs on its training samples, the exit rules' reference."""
    is_ood = np.zeros(len(labels), dtype=bool)
    is_ood[n_id:] = True
    scores: dict[str, np.ndarray] = {}
    auroc: dict[str, float] = {}
    if test.exit_logits is not None:
        assert train is not None and train.exit_logits is not None
        gaussians = ClassGaussians.fit(pooled_features(train.cut), train_labels)
        reference = ood_scores(train.exit_logits, train.cut, id_classes, gaussians)
        raw = ood_scores(test.exit_logits, test.cut, id_classes, gaussians)
        scores = {rule: calibrate(raw[rule], reference[rule]) for rule in raw}
        auroc = {rule: ood_auroc(raw[rule], is_ood) for rule in raw}
    return ClientEvaluation(
        client_id=client_id, tier=tier, arch=arch, n_train=len(train_labels),
        labels=labels.astype(np.int16), is_ood=is_ood,
        exit_pred=None if test.exit_logits is None
        else test.exit_logits.argmax(1).numpy().astype(np.int16),
        server_pred=None if test.server_logits is None
        else test.server_logits.argmax(1).numpy().astype(np.int16),
        exit_scores=scores, ood_auroc=auroc, server_pred_by_codec=server_pred_by_codec)
