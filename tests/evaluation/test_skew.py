"""The skew measures: CKA ignores rotations, the cut cosine does not, pairs are cross-arch."""

from __future__ import annotations

import numpy as np

from harmony_sim.evaluation.hybrid import ClientEvaluation
from harmony_sim.evaluation.skew import (
    CutFeatures,
    cut_skew,
    linear_cka,
    mean_cosine,
    server_accuracy_by_arch,
)


def test_cka_is_rotation_invariant_but_cosine_is_not() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 20))
    rotation, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    assert abs(linear_cka(a, a @ rotation) - 1.0) < 1e-9
    assert abs(mean_cosine(a, a) - 1.0) < 1e-9
    assert mean_cosine(a, a @ rotation) < 0.5
    assert linear_cka(a, rng.normal(size=(64, 20))) < 0.6


def test_cut_skew_uses_cross_architecture_pairs() -> None:
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(32, 10))
    aligned = [CutFeatures(0, "a", shared), CutFeatures(1, "b", shared + 0.01),
               CutFeatures(2, "a", shared)]
    result = cut_skew(aligned)
    assert result["cross_arch_pairs"] == 2
    assert result["skew"] < 0.01
    skewed = [CutFeatures(0, "a", shared), CutFeatures(1, "b", rng.normal(size=(32, 10)))]
    assert cut_skew(skewed)["skew"] > 0.5
    assert cut_skew([CutFeatures(0, "a", shared)])["cross_arch_pairs"] == 0


def test_server_accuracy_by_arch_spread() -> None:
    def client(cid: int, arch: str, correct: int) -> ClientEvaluation:
        labels = np.zeros(4, dtype=np.int16)
        pred = np.array([0] * correct + [1] * (4 - correct), dtype=np.int16)
        return ClientEvaluation(cid, "t", arch, 10, labels, np.ones(4, dtype=bool),
                                exit_pred=None, server_pred=pred)

    result = server_accuracy_by_arch([client(0, "a", 4), client(1, "b", 1), client(2, "b", 3)])
    assert result["server_ood_acc[a]"] == 1.0
    assert result["server_ood_acc[b]"] == 0.5
    assert result["server_ood_acc_arch_spread"] == 0.5
