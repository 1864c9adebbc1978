"""A client's link: from its device profile or a named condition, then scenario overrides."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from harmony_sim.devices import DeviceProfile
from harmony_sim.errors import UserInputError
from harmony_sim.network.conditions import NETWORK_CONDITIONS, LinkFigures
from harmony_sim.scenario.schema import LinkOverride, NetworkConfig

JitterKind = Literal["exponential", "normal", "none"]


@dataclass(frozen=True)
class Link:
    """Everything the transfer-time function needs about one client's link."""

    figures: LinkFigures
    jitter: JitterKind = "exponential"
    retransmit_timeout_ms: float = 200.0

    def __post_init__(self) -> None:
        # Catches profiles built in code (model_construct) or figures edited by hand: a link with
        # no bandwidth would give infinite or negative times deep inside the simulation.
        f = self.figures
        for name in ("uplink_mbps", "downlink_mbps"):
            value = getattr(f, name)
            if not (math.isfinite(value) and value > 0):
                raise UserInputError(f"link {name}: must be > 0 Mbit/s, got {value}; fix the "
                                     "device profile or network override")
        if f.rtt_ms < 0 or f.jitter_ms < 0 or not 0 <= f.loss_rate < 1:
            raise UserInputError(f"link: rtt_ms and jitter_ms must be >= 0 and loss_rate in "
                                 f"[0, 1), got {f}")


def profile_figures(profile: DeviceProfile) -> LinkFigures:
    """The device's own link (profiles carry no loss figure: loss 0 unless overridden)."""
    return LinkFigures(profile.uplink_mbps, profile.downlink_mbps, profile.rtt_ms,
                       profile.jitter_ms)


def apply_override(figures: LinkFigures, override: LinkOverride) -> LinkFigures:
    """Replace the figures the override sets (its null fields keep the current value)."""
    changed = {k: v for k, v in override.model_dump(include=set(LinkOverride.model_fields))
               .items() if v is not None}
    return replace(figures, **changed)


def client_link(profile: DeviceProfile, tier: str, condition: str,
                network: NetworkConfig) -> Link:
    """The link of a client in `tier` on `profile` under a named condition ('profile': its own),
    with the scenario's global then per-tier overrides applied."""
    figures = (profile_figures(profile) if condition == "profile"
               else NETWORK_CONDITIONS[condition])
    figures = apply_override(figures, network)
    if tier in network.tiers:
        figures = apply_override(figures, network.tiers[tier])
    return Link(figures, network.jitter, network.retransmit_timeout_ms)
