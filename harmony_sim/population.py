"""The client population: every client's data shard, device tier and architecture."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from harmony_sim.data import ClientData, Dataset, partition_clients
from harmony_sim.devices import DeviceProfile, resolve_profile
from harmony_sim.devices.fitting import (
    Candidate,
    device_step_ms,
    family_preference,
    largest_fit,
    misfit,
    no_fit_reason,
)
from harmony_sim.devices.host import measure_host
from harmony_sim.errors import UserInputError
from harmony_sim.models import FAMILIES, ArchSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import ArchCost, arch_cost
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.schema import TierConfig
from harmony_sim.seeding import numpy_rng

DEFAULT_TIER = "default"


@dataclass(frozen=True)
class VirtualClient:
    """One simulated client: its data, its architecture and the device it stands for."""

    data: ClientData
    arch: ArchSpec
    tier: str = "default"
    profile: str = "default"
    threads: int | None = None  # torch threads from the profile (None: the pool's own)
    time_scale: float = 1.0  # device seconds per host second (host GFLOP/s / device GFLOP/s)
    memory_bytes: int = 0  # estimated peak training memory (Ray memory request of its pool)
    seconds_per_sample: float | None = None  # FLOPs clock: device s per training sample

    @property
    def client_id(self) -> int:
        return self.data.client_id


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


def build_clients(scenario: Scenario, dataset: Dataset) -> list[VirtualClient]:
    """Partition the data, then give every client its tier and architecture (excluded tiers'
    clients left out)."""
    return plan_population(scenario, dataset).clients


@dataclass(frozen=True)
class TierPlan:
    """One tier's device and architecture, with its cost figures (arch None: excluded)."""

    tier: str
    profile: str
    clients: int
    how: str  # "fixed" (tier.arch or model section) or the selection policy; "excluded"
    arch: ArchSpec | None
    cost: ArchCost | None
    device_step_ms: float | None  # predicted training step on the device (None: no profile)
    reason: str = ""


@dataclass
class Population:
    clients: list[VirtualClient]
    tiers: list[TierPlan]
    excluded: list[dict[str, object]] = field(default_factory=list)  # client_id, tier, reason
    host_gflops: float | None = None  # host side of the device clock's ratio

    @property
    def client_ids(self) -> list[int]:
        return [c.client_id for c in self.clients]


def candidates(scenario: Scenario, ctx: ModelContext) -> list[Candidate]:
    """The selection catalogue: families x widths x depths with their costs."""
    sel = scenario.clients.selection
    families = sel.families or FAMILIES.names()
    return [Candidate(arch, arch_cost(arch, ctx, scenario.training.batch_size))
            for arch in (ArchSpec(f, w, d) for f in families for w in sel.widths
                         for d in sel.depths)]


def tier_profile(tier: TierConfig | None) -> DeviceProfile | None:
    return resolve_profile(tier.profile) if tier is not None and tier.profile else None


def plan_tier(scenario: Scenario, tier: TierConfig | None, count: int, ctx: ModelContext,
              catalogue: list[Candidate] | None) -> TierPlan:
    """Fixed architecture (checked against the profile) or the policy's pick."""
    sel = scenario.clients.selection
    profile = tier_profile(tier)
    name = tier.name if tier is not None else DEFAULT_TIER
    profile_name = profile.name if profile is not None else DEFAULT_TIER
    budget = sel.latency_budget_ms
    fixed = sel.policy == "fixed" or (tier is not None and tier.arch is not None)
    if fixed:
        arch = tier_architecture(scenario, tier)
        pick: Candidate | None = Candidate(arch, arch_cost(arch, ctx,
                                                           scenario.training.batch_size))
        reason = misfit(pick.cost, profile, budget) if pick else None
        if reason is not None:
            pick = None
    else:
        assert catalogue is not None
        order = sel.families or FAMILIES.names()
        pick = (largest_fit(catalogue, profile, budget) if sel.policy == "largest_fit"
                else family_preference(catalogue, order, profile, budget))
        reason = None if pick is not None or profile is None else \
            no_fit_reason(catalogue, profile, budget)
    if pick is None:
        message = f"tier {name!r} ({profile_name}): {reason}"
        if sel.on_no_fit == "error":
            raise UserInputError(f"clients.tiers: {message}; raise the budget, add smaller "
                                 "widths/depths, or set clients.selection.on_no_fit=exclude")
        return TierPlan(name, profile_name, count, "excluded", None, None, None, reason or "")
    step = device_step_ms(pick.cost, profile) if profile is not None else None
    return TierPlan(name, profile_name, count, "fixed" if fixed else sel.policy, pick.arch,
                    pick.cost, step)


def host_gflops(scenario: Scenario, ctx: ModelContext, archs: list[ArchSpec]) -> float:
    """This host's training GFLOP/s: from the scenario's host profile, else measured now on the
    architectures in use (a short micro-benchmark with the pools' thread count)."""

    named = scenario.clients.selection.host_profile
    if named:
        return resolve_profile(named).compute_gflops
    threads = scenario.runtime.threads_per_actor
    return measure_host(archs, ctx, scenario.training.batch_size, threads, repeats=3).train_gflops


def plan_population(scenario: Scenario, dataset: Dataset) -> Population:
    """Partition the data, plan every tier, then build the clients that take part."""
    ctx = ModelContext.of(scenario.model, dataset.input_shape, dataset.num_classes)
    tiers = scenario.clients.tiers
    labels = assign_tiers(scenario)
    catalogue = None if scenario.clients.selection.policy == "fixed" else \
        candidates(scenario, ctx)
    tier_list: list[TierConfig | None] = list(tiers) or [None]
    names = [t.name if t is not None else DEFAULT_TIER for t in tier_list]
    counts = [sum(1 for t in labels if t is tier) for tier in tier_list]
    plans = {name: plan_tier(scenario, tier, count, ctx, catalogue)
             for name, tier, count in zip(names, tier_list, counts, strict=True)}
    profiled = {name: tier_profile(tier) for name, tier in zip(names, tier_list, strict=True)}
    in_use = sorted({p.arch for p in plans.values() if p.arch is not None})
    flops_clock = scenario.clients.device_clock == "flops"
    if flops_clock and not all(profiled.values()) and not scenario.clients.selection.host_profile:
        raise UserInputError("clients.device_clock: flops needs a device profile on every tier "
                             "(clients.tiers[].profile) or clients.selection.host_profile for "
                             "tiers without one; or use device_clock: measured")
    needs_host = (any(profiled.values()) or flops_clock) and in_use
    host = host_gflops(scenario, ctx, in_use) if needs_host else None
    cpus = os.cpu_count() or 1
    data = partition_clients(dataset, scenario.data, scenario.clients.count, scenario.seed,
                             max(scenario.evaluation.ood_ratios))
    population = Population([], list(plans.values()), host_gflops=host)
    for shard, tier in zip(data, labels, strict=True):
        plan = plans[tier.name if tier is not None else DEFAULT_TIER]
        if plan.arch is None or plan.cost is None:
            population.excluded.append({"client_id": shard.client_id, "tier": plan.tier,
                                        "profile": plan.profile, "reason": plan.reason})
            continue
        profile = profiled.get(plan.tier)
        threads = None if profile is None else \
            max(1, min(profile.cpu_cores, scenario.runtime.threads_per_actor, cpus))
        scale = 1.0 if profile is None or host is None else host / profile.compute_gflops
        device_gflops = profile.compute_gflops if profile is not None else host
        per_sample = plan.cost.train_flops / (device_gflops * 1e9) \
            if flops_clock and device_gflops else None
        population.clients.append(VirtualClient(
            shard, plan.arch, tier=plan.tier, profile=plan.profile, threads=threads,
            time_scale=scale, memory_bytes=plan.cost.peak_train_bytes,
            seconds_per_sample=per_sample))
    if not population.clients:
        raise UserInputError("clients.tiers: every tier was excluded (no architecture fits any "
                             "device); see clients.selection")
    return population
