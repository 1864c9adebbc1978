"""Split a dataset into clients: each has a few in-distribution (ID) classes and a disjoint set
of train samples; its test set holds ID samples plus out-of-distribution (OOD) samples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harmony_sim.data.datasets import Dataset
from harmony_sim.errors import UserInputError
from harmony_sim.scenario.schema import DataConfig
from harmony_sim.seeding import numpy_rng


@dataclass(frozen=True)
class ClientData:
    """Index arrays into the dataset (int32 keeps 10,000 clients small)."""

    client_id: int
    id_classes: np.ndarray
    train_idx: np.ndarray
    test_id_idx: np.ndarray
    test_ood_idx: np.ndarray  # ordered: the first round(p * n_id) make the set for ratio p

    def ood_count(self, ratio: float) -> int:
        return min(len(self.test_ood_idx), int(round(ratio * len(self.test_id_idx))))


def partition_clients(dataset: Dataset, config: DataConfig, num_clients: int, seed: int,
                      max_ood_ratio: float) -> list[ClientData]:
    """Partition train samples into `num_clients` disjoint shards and draw per-client test sets."""
    num_classes = dataset.num_classes
    if config.partition == "shards":
        if config.classes_per_client >= num_classes:
            raise UserInputError(
                f"data.classes_per_client: {config.classes_per_client} leaves no OOD class in a "
                f"{num_classes}-class dataset; use at most {num_classes - 1}")
        id_classes, train_idx = _shards(dataset.train_y, num_classes, num_clients,
                                        config.classes_per_client, seed)
    else:
        id_classes, train_idx = _dirichlet(dataset.train_y, num_classes, num_clients,
                                           config.dirichlet_alpha, config.id_min_share, seed)
    test_by_class = [np.flatnonzero(dataset.test_y == c) for c in range(num_classes)]
    clients = []
    for cid in range(num_clients):
        rng = numpy_rng(seed, "test-split", cid)
        ids = id_classes[cid]
        ood = np.setdiff1d(np.arange(num_classes), ids)
        id_pool = np.concatenate([test_by_class[c] for c in ids])
        ood_pool = np.concatenate([test_by_class[c] for c in ood])
        n_id = min(config.test_samples_per_client, len(id_pool))
        n_ood = min(len(ood_pool), math.ceil(max_ood_ratio * n_id))
        clients.append(ClientData(
            client_id=cid,
            id_classes=ids.astype(np.int32),
            train_idx=train_idx[cid].astype(np.int32),
            test_id_idx=rng.choice(id_pool, n_id, replace=False).astype(np.int32),
            test_ood_idx=rng.choice(ood_pool, n_ood, replace=False).astype(np.int32),
        ))
    return clients


def _shards(labels: np.ndarray, num_classes: int, num_clients: int, per_client: int,
            seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Client i holds `per_client` consecutive classes of a seeded class order, so every class is
    held by about the same number of clients; each class's samples are split among its holders."""
    rng = numpy_rng(seed, "partition", "shards")
    order = rng.permutation(num_classes)
    id_classes = [np.sort(order[(i * per_client + np.arange(per_client)) % num_classes])
                  for i in range(num_clients)]
    holders: list[list[int]] = [[] for _ in range(num_classes)]
    for cid, classes in enumerate(id_classes):
        for c in classes:
            holders[c].append(cid)
    parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for c in range(num_classes):
        if not holders[c]:
            continue
        samples = rng.permutation(np.flatnonzero(labels == c))
        for cid, chunk in zip(holders[c], np.array_split(samples, len(holders[c])), strict=True):
            parts[cid].append(chunk)
    train_idx = [np.sort(np.concatenate(p)) if p else np.empty(0, np.int64) for p in parts]
    return id_classes, train_idx


def _dirichlet(labels: np.ndarray, num_classes: int, num_clients: int, alpha: float,
               id_min_share: float, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per class, Dirichlet(alpha) proportions over clients. A client's ID classes are those with
    at least `id_min_share` of its samples; samples of its other classes are dropped, so a client
    never trains on a class that is OOD for it."""
    rng = numpy_rng(seed, "partition", "dirichlet")
    owned: list[list[np.ndarray]] = [[np.empty(0, np.int64)] * num_classes
                                     for _ in range(num_clients)]
    for c in range(num_classes):
        samples = rng.permutation(np.flatnonzero(labels == c))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(samples)).astype(int)
        for cid, chunk in enumerate(np.split(samples, cuts)):
            owned[cid][c] = chunk
    id_classes, train_idx = [], []
    for cid in range(num_clients):
        counts = np.array([len(owned[cid][c]) for c in range(num_classes)])
        total = max(counts.sum(), 1)
        ids = np.flatnonzero(counts / total >= id_min_share)
        if len(ids) == 0:
            ids = np.array([int(counts.argmax())])
        if len(ids) == num_classes:  # keep at least one OOD class: drop the smallest
            ids = np.delete(ids, int(counts[ids].argmin()))
        id_classes.append(np.sort(ids))
        train_idx.append(np.sort(np.concatenate([owned[cid][c] for c in ids])))
    return id_classes, train_idx
