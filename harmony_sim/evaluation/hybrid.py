"""Hybrid inference metrics. A client answers on device when its exit rule deems a sample one of
its own classes (calibrated OOD score <= threshold, see exit_rules) and falls back to the server
otherwise. Evaluation keeps per-sample predictions and every rule's scores, so any rule,
threshold or OOD ratio is computed without re-running models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harmony_sim.evaluation.exit_rules import EXIT_RULES


@dataclass
class ClientEvaluation:
    """Per-sample outcomes on one client's test set: its ID samples first, then OOD samples
    in draw order (the first round(p * n_id) of them form the set for OOD ratio p)."""

    client_id: int
    tier: str
    arch: str
    n_train: int
    labels: np.ndarray
    is_ood: np.ndarray
    exit_pred: np.ndarray | None  # None: the algorithm has no early exit
    # Per exit rule: each sample's calibrated OOD score in [0, 1] (share of the client's training
    # samples scoring at most as high), and how well the raw score tells OOD from ID (AUROC).
    server_pred: np.ndarray | None  # None: no server (local training)
    exit_scores: dict[str, np.ndarray] = field(default_factory=dict)
    ood_auroc: dict[str, float] = field(default_factory=dict)
    # Server predictions on the cut after a lossy uplink codec (fp16, int8), when requested.
    server_pred_by_codec: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_id(self) -> int:
        return int((~self.is_ood).sum())

    def subset(self, ratio: float) -> np.ndarray:
        """Indices of the test set at OOD ratio `ratio` (ID samples + a prefix of OOD ones)."""
        n_ood = min(int(self.is_ood.sum()), int(round(ratio * self.n_id)))
        return np.arange(self.n_id + n_ood)

    def answers(self, threshold: float, rule: str) -> tuple[np.ndarray, np.ndarray]:
        """(hybrid prediction, fell back to server?) per sample for a rule and threshold."""
        if self.exit_pred is None:
            assert self.server_pred is not None
            return self.server_pred, np.ones(len(self.labels), dtype=bool)
        if self.server_pred is None:
            return self.exit_pred, np.zeros(len(self.labels), dtype=bool)
        fallback = self.exit_scores[rule] > threshold
        return np.where(fallback, self.server_pred, self.exit_pred), fallback


def _accuracy(pred: np.ndarray | None, labels: np.ndarray) -> float:
    if pred is None or len(labels) == 0:
        return float("nan")
    return float((pred == labels).mean())


def client_metrics(ev: ClientEvaluation, ratio: float, threshold: float,
                   rule: str) -> dict[str, float]:
    """device / server / hybrid accuracy and fallback rate on the test set at OOD ratio."""
    idx = ev.subset(ratio)
    labels = ev.labels[idx]
    hybrid, fallback = ev.answers(threshold, rule)
    return {
        "device_acc": _accuracy(None if ev.exit_pred is None else ev.exit_pred[idx], labels),
        "server_acc": _accuracy(None if ev.server_pred is None else ev.server_pred[idx], labels),
        "hybrid_acc": _accuracy(hybrid[idx], labels),
        "fallback_rate": float(fallback[idx].mean()) if len(idx) else float("nan"),
    }


def id_ood_accuracies(ev: ClientEvaluation) -> dict[str, float]:
    """On-device accuracy on ID samples and server accuracy on OOD samples."""
    ood = ev.is_ood
    return {
        "device_id_acc": _accuracy(None if ev.exit_pred is None else ev.exit_pred[~ood],
                                   ev.labels[~ood]),
        "server_ood_acc": _accuracy(None if ev.server_pred is None else ev.server_pred[ood],
                                    ev.labels[ood]),
    }


# The per-ratio accuracy figures of every evaluation (metric_name gives each ratio's key).
ACCURACY_METRICS = ("device_acc", "server_acc", "hybrid_acc", "fallback_rate")


def metric_name(metric: str, ratio: float) -> str:
    return f"{metric}@p{ratio:g}"


def per_client_rows(evals: Sequence[ClientEvaluation], ratios: Sequence[float],
                    threshold: float, rule: str) -> list[dict[str, float | int | str]]:
    rows: list[dict[str, float | int | str]] = []
    for ev in evals:
        row: dict[str, float | int | str] = {"client_id": ev.client_id, "tier": ev.tier,
                                             "arch": ev.arch, "n_train": ev.n_train}
        row.update(id_ood_accuracies(ev))
        for name in EXIT_RULES:
            row[f"ood_auroc[{name}]"] = ev.ood_auroc.get(name, float("nan"))
        for ratio in ratios:
            for key, value in client_metrics(ev, ratio, threshold, rule).items():
                row[metric_name(key, ratio)] = value
        rows.append(row)
    return rows


def mean_of_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean over per_client_rows of every metric (NaN-aware: absent paths stay NaN)."""
    keys = [k for k in rows[0] if k not in ("client_id", "tier", "arch", "n_train")]
    summary = {}
    for key in keys:
        values = np.array([float(r[key]) for r in rows])
        summary[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return summary
