"""Pick each device's architecture: the most capable candidate that fits the profile's memory
budget and the scenario's latency budget, under a policy (largest_fit, family_preference, fixed).

Latency budget: simulated device time of ONE training step at `training.batch_size` on the client
side (extractor + exit head), predicted as train FLOPs x batch / profile.compute_gflops.
Capability: more training FLOPs per sample, then more parameters (ArchCost.capability), so a
larger budget never yields a less capable pick under largest_fit (monotone; tested)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harmony_sim.devices.profile import DeviceProfile
from harmony_sim.models import ArchSpec
from harmony_sim.models.cost import ArchCost

MB = 2**20


@dataclass(frozen=True)
class Candidate:
    arch: ArchSpec
    cost: ArchCost

    @property
    def rank(self) -> tuple[int, int, ArchSpec]:
        return (*self.cost.capability, self.arch)  # the ArchSpec breaks exact ties stably


def device_step_ms(cost: ArchCost, profile: DeviceProfile) -> float:
    """Predicted compute time of one training step of `cost` on `profile` (ms)."""
    return cost.train_step_flops() / (profile.compute_gflops * 1e9) * 1e3


def misfit(cost: ArchCost, profile: DeviceProfile | None,
           latency_budget_ms: float | None) -> str | None:
    """Why `cost` does not fit `profile` (None: it fits, or there is no profile to check)."""
    if profile is None:
        return None
    need_mb = cost.peak_train_bytes / MB
    if need_mb > profile.memory_mb:
        return (f"{cost.arch} needs {need_mb:.1f} MB to train at batch {cost.batch}, "
                f"{profile.name} allows {profile.memory_mb:g} MB")
    if latency_budget_ms is not None:
        step = device_step_ms(cost, profile)
        if step > latency_budget_ms:
            return (f"{cost.arch} takes {step:.1f} ms per training step on {profile.name}, "
                    f"budget {latency_budget_ms:g} ms")
    return None


def largest_fit(candidates: Sequence[Candidate], profile: DeviceProfile | None,
                latency_budget_ms: float | None) -> Candidate | None:
    fitting = [c for c in candidates if misfit(c.cost, profile, latency_budget_ms) is None]
    return max(fitting, key=lambda c: c.rank, default=None)


def family_preference(candidates: Sequence[Candidate], families: Sequence[str],
                      profile: DeviceProfile | None,
                      latency_budget_ms: float | None) -> Candidate | None:
    """The largest fit of the first family (in preference order) that has any fit. Monotone
    within a family; a larger budget may switch to a preferred family, by design."""
    for family in families:
        pick = largest_fit([c for c in candidates if c.arch.family == family], profile,
                           latency_budget_ms)
        if pick is not None:
            return pick
    return None


def no_fit_reason(candidates: Sequence[Candidate], profile: DeviceProfile,
                  latency_budget_ms: float | None) -> str:
    """Why nothing fits, told through the least demanding candidate."""
    smallest = min(candidates, key=lambda c: c.rank)
    return (f"no candidate architecture fits {profile.name}: the smallest, "
            f"{misfit(smallest.cost, profile, latency_budget_ms)}")
