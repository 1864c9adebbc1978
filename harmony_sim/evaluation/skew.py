"""Representation skew, measured directly: how differently clients' extractors map the same
inputs into the shared cut space, and how the server's accuracy varies by architecture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from harmony_sim.evaluation.hybrid import ClientEvaluation, id_ood_accuracies
from harmony_sim.seeding import numpy_rng

PROBE_SAMPLES = 128


@dataclass
class CutFeatures:
    """One client's cut tensors (flattened, float32) for the common probe inputs."""

    client_id: int
    arch: str
    features: np.ndarray  # (probe samples, cut numel)


def probe_indices(num_test: int, seed: int, samples: int = PROBE_SAMPLES) -> np.ndarray:
    rng = numpy_rng(seed, "skew-probe")
    return np.sort(rng.choice(num_test, size=min(samples, num_test), replace=False))


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear CKA (Kornblith et al., 2019) of two (n, d) feature matrices; 1 = same geometry up to
    rotation and isotropic scale. Computed via the n x n Gram matrices (d can be large)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    ka, kb = a @ a.T, b @ b.T
    denom = np.linalg.norm(ka) * np.linalg.norm(kb)
    return float((ka * kb).sum() / denom) if denom > 0 else float("nan")


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over inputs of the cosine between two extractors' cut tensors for the same input.
    Not rotation-invariant: this is what a shared server back end sees."""
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def cut_skew(features: Sequence[CutFeatures]) -> dict[str, float]:
    """Means over pairs of clients with DIFFERENT architectures: linear CKA, cosine of the cut
    tensors, and skew = 1 - cosine (0: every architecture emits the same cut tensor). Pairs of
    the same architecture are reported separately as a reference."""
    cross: list[tuple[float, float]] = []
    same: list[float] = []
    for a, b in combinations(features, 2):
        if a.arch != b.arch:
            cross.append((linear_cka(a.features, b.features),
                          mean_cosine(a.features, b.features)))
        else:
            same.append(mean_cosine(a.features, b.features))
    if not cross:  # one architecture only (e.g. FedAvg): no cross-architecture skew to measure
        return {"cross_arch_pairs": 0, "cut_cka": float("nan"), "cut_cosine": float("nan"),
                "skew": float("nan"),
                "same_arch_cosine": float(np.mean(same)) if same else float("nan")}
    cka, cosine = np.array(cross).T
    return {"cross_arch_pairs": len(cross), "cut_cka": float(np.nanmean(cka)),
            "cut_cosine": float(np.mean(cosine)), "skew": float(1.0 - np.mean(cosine)),
            "same_arch_cosine": float(np.mean(same)) if same else float("nan")}


def server_accuracy_by_arch(evals: Sequence[ClientEvaluation]) -> dict[str, float]:
    """Server accuracy on OOD samples, averaged per client architecture, plus the spread
    (max - min) across architectures: skew shows up as a server that serves some
    architectures' cut tensors worse than others."""
    per_arch: dict[str, list[float]] = {}
    for ev in evals:
        per_arch.setdefault(ev.arch, []).append(id_ood_accuracies(ev)["server_ood_acc"])
    means = {arch: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
             for arch, v in sorted(per_arch.items())}
    finite = [v for v in means.values() if np.isfinite(v)]
    result = {f"server_ood_acc[{arch}]": value for arch, value in means.items()}
    result["server_ood_acc_arch_spread"] = (max(finite) - min(finite)) if finite else float("nan")
    return result
