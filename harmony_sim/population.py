"""The client population: every client's data shard, device tier and architecture."""

from __future__ import annotations

import numpy as np

from harmony_sim.data import Dataset, partition_clients
from harmony_sim.models import ArchSpec
from harmony_sim.runtime import VirtualClient
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.schema import TierConfig
from harmony_sim.seeding import numpy_rng

DEFAULT_TIER = "default"


def tier_counts(shares: list[float], total: int) -> list[int]:
    """Split `total` clients by relative shares (largest remainder: counts sum to total)."""
    weights = np.asarray(shares, dtype=float) / sum(shares)
    raw = weights * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def assign_tiers(scenario: Scenario) -> list[TierConfig | None]:
    """Each client's tier (None: the single default tier), in a seeded random order."""
    tiers = scenario.clients.tiers
    count = scenario.clients.count
    if not tiers:
        return [None] * count
    labels = np.repeat(np.arange(len(tiers)), tier_counts([t.share for t in tiers], count))
    order = numpy_rng(scenario.seed, "tiers").permutation(labels)
    return [tiers[i] for i in order]


def tier_architecture(scenario: Scenario, tier: TierConfig | None) -> ArchSpec:
    """The tier's fixed architecture, else the `model` section's."""
    arch = tier.arch if tier is not None and tier.arch is not None else scenario.model
    return ArchSpec(arch.family, arch.width, arch.depth)


def scenario_architectures(scenario: Scenario) -> list[ArchSpec]:
    """Every architecture the scenario's tiers name (the `model` section's without tiers)."""
    tiers = scenario.clients.tiers or [None]
    return sorted({tier_architecture(scenario, t) for t in tiers})


def build_clients(scenario: Scenario, dataset: Dataset) -> list[VirtualClient]:
    """Partition the data, then give every client its tier and architecture."""
    data = partition_clients(dataset, scenario.data, scenario.clients.count, scenario.seed,
                             max(scenario.evaluation.ood_ratios))
    clients = []
    for shard, tier in zip(data, assign_tiers(scenario), strict=True):
        clients.append(VirtualClient(
            shard, tier_architecture(scenario, tier),
            tier=tier.name if tier is not None else DEFAULT_TIER,
            profile=(tier.profile or DEFAULT_TIER) if tier is not None else DEFAULT_TIER))
    return clients
