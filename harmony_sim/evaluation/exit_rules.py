"""Exit rules: how a client decides "is this one of my classes?" before answering on device.

Each rule gives every sample an OOD score (higher = less like the client's own classes):
- entropy: entropy of the exit's softmax divided by log(number of the client's ID classes);
- confidence: 1 - the exit's max-softmax probability;
- energy: the energy score -logsumexp(exit logits) (Liu et al., NeurIPS 2020);
- mahalanobis: the smallest Mahalanobis distance of the sample's cut features (the cut tensor
  averaged over space) to the client's ID class means, with one shrunk covariance (Lee et al.,
  NeurIPS 2018), all estimated on the device from its own training features.

Scores of different rules live on different scales, so a threshold is applied to a calibrated
score: the share of the client's own training samples whose score is at most the sample's
(computed on the device, from data it already holds). A sample falls back when its calibrated
score is above the threshold: threshold 0.95 keeps on the device whatever looks at least as
in-distribution as the least typical 5 % of the client's training data; 1.0 never falls back on
a sample inside the training range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import get_args

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score
from torch import Tensor

from harmony_sim.scenario.schema import ExitRule

EXIT_RULES: tuple[str, ...] = get_args(ExitRule)


def normalised_entropy(logits: Tensor, classes: int | None = None) -> Tensor:
    """Entropy of softmax(logits) divided by log(classes) (default: every logit): 0 = certain,
    1 = uniform over `classes` classes."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return entropy / math.log(max(classes or logits.shape[-1], 2))


@dataclass
class ClassGaussians:
    """Class means and one shared (Ledoit-Wolf shrunk) precision matrix of a client's features."""

    means: np.ndarray  # (classes, dim)
    precision: np.ndarray  # (dim, dim)

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray) -> ClassGaussians:
        classes = np.unique(labels)
        means = np.stack([features[labels == c].mean(0) for c in classes])
        centred = features - means[np.searchsorted(classes, labels)]
        return cls(means, LedoitWolf(assume_centered=True).fit(centred).precision_)

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance to the nearest class mean."""
        diff = features[:, None, :] - self.means[None, :, :]
        return np.einsum("ncd,de,nce->nc", diff, self.precision, diff).min(1)


def pooled_features(cut: Tensor) -> np.ndarray:
    """The cut tensor averaged over space: one value per channel (a few dozen dimensions, so a
    covariance can be estimated from a client's few hundred samples)."""
    return cut.float().flatten(2).mean(2).numpy().astype(np.float64)


def logit_scores(logits: Tensor, id_classes: int) -> dict[str, np.ndarray]:
    """The rules that need only the exit's logits."""
    logits = logits.float()
    return {
        "entropy": normalised_entropy(logits, id_classes).numpy(),
        "confidence": (1.0 - logits.softmax(-1).amax(-1)).numpy(),
        "energy": (-torch.logsumexp(logits, dim=-1)).numpy(),
    }


def ood_scores(exit_logits: Tensor, cut: Tensor, id_classes: int,
               gaussians: ClassGaussians) -> dict[str, np.ndarray]:
    """Every rule's score for a batch, keyed by rule name."""
    scores = logit_scores(exit_logits, id_classes)
    scores["mahalanobis"] = gaussians.distance(pooled_features(cut))
    return {rule: scores[rule].astype(np.float32) for rule in EXIT_RULES}


def calibrate(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The share of `reference` (the client's training scores) at or below each score."""
    ordered = np.sort(reference)
    return (np.searchsorted(ordered, scores, side="right") / max(len(ordered), 1)).astype(
        np.float32)


def ood_auroc(scores: np.ndarray, is_ood: np.ndarray) -> float:
    """Area under the ROC curve of telling OOD from ID samples by the score (0.5 = chance);
    NaN without both kinds of sample."""
    if is_ood.all() or not is_ood.any():
        return float("nan")
    return float(roc_auc_score(is_ood, scores))
