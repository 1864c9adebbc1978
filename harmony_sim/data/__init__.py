"""Datasets and their partition into clients with ID and OOD classes."""

from harmony_sim.data.datasets import DATASETS, Dataset, load_dataset
from harmony_sim.data.partition import ClientData, partition_clients

__all__ = ["DATASETS", "ClientData", "Dataset", "load_dataset", "partition_clients"]
