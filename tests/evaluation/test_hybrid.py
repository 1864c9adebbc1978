"""Hybrid metrics on hand-made per-sample records."""

from __future__ import annotations

import math

import numpy as np
import torch

from harmony_sim.evaluation import ClientEvaluation, client_metrics, normalised_entropy


def record() -> ClientEvaluation:
    # 4 ID samples then 4 OOD samples.
    return ClientEvaluation(
        client_id=0, tier="t", arch="a", n_train=10,
        labels=np.array([0, 1, 0, 1, 5, 6, 7, 8]),
        is_ood=np.array([False] * 4 + [True] * 4),
        exit_pred=np.array([0, 1, 1, 1, 0, 0, 1, 8]),
        server_pred=np.array([0, 0, 0, 1, 5, 6, 0, 8]),
        exit_scores={"entropy": np.array([0.1, 0.2, 0.9, 0.1, 0.8, 0.9, 0.3, 0.95],
                                         dtype=np.float32)},
    )


def test_hybrid_uses_server_above_threshold() -> None:
    m = client_metrics(record(), ratio=1.0, threshold=0.5, rule="entropy")
    # hybrid: [0,1,0(server),1, 5(server),6(server),1(exit, wrong),8(server)] -> 7/8
    assert m["hybrid_acc"] == 7 / 8
    assert m["device_acc"] == 4 / 8
    assert m["server_acc"] == 6 / 8
    assert m["fallback_rate"] == 4 / 8


def test_ood_ratio_takes_a_prefix_of_ood_samples() -> None:
    m = client_metrics(record(), ratio=0.5, threshold=0.5, rule="entropy")  # 4 ID + 2 OOD
    assert m["device_acc"] == 3 / 6
    assert m["hybrid_acc"] == 6 / 6
    m0 = client_metrics(record(), ratio=0.0, threshold=0.5, rule="entropy")
    assert m0["device_acc"] == 3 / 4 and m0["fallback_rate"] == 1 / 4


def test_normalised_entropy_bounds() -> None:
    uniform = normalised_entropy(torch.zeros(1, 10))
    certain = normalised_entropy(torch.tensor([[100.0] + [0.0] * 9]))
    assert math.isclose(float(uniform), 1.0, rel_tol=1e-6)
    assert float(certain) < 1e-6
    # Normalised by the client's 3 ID classes: uniform over them is 1.
    over_three = normalised_entropy(torch.tensor([[0.0, 0.0, 0.0] + [-100.0] * 7]), 3)
    assert math.isclose(float(over_three), 1.0, rel_tol=1e-5)
