"""What one client did in one round, and the simulated time its deadline is checked against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClientRoundReport:
    """What one client did in one round (host compute time and bytes over its link)."""

    client_id: int
    tier: str
    arch: str
    samples: int
    batches: int
    exit_loss: float
    server_loss: float
    uplink_bytes: int
    downlink_bytes: int
    compute_s: float
    device_s: float = 0.0  # simulated device compute time (DeviceClock), client side only


def client_round_time(report: ClientRoundReport) -> float:
    """Simulated seconds of one client's round: the one estimate the deadline is checked against.
    The device clock's compute time (host time scaled to the client's device profile; host time
    itself for clients without a profile)."""
    return float(report.device_s)
