"""Named network conditions a scenario can sweep (network.conditions), with their public sources.

Each condition replaces every client's link figures; `profile` (not listed here) keeps each
device profile's own link. Figures are medians/averages of crowd-sourced measurements, rounded;
upload and jitter are often not published, so those are stated assumptions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkFigures:
    """Bandwidths in Mbit/s, times in ms, loss as a per-packet probability."""

    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    jitter_ms: float = 0.0
    loss_rate: float = 0.0

NETWORK_CONDITIONS: dict[str, LinkFigures] = {
    # Home/office Wi-Fi on fixed broadband. Ookla Speedtest Global Index (Nov 2017, via
    # telecomtv.com): global fixed-broadband mean download 40.11 Mbit/s; Ookla market reports
    # Q1 2023 list fixed multi-server latencies around 12 ms, plus a few ms for the Wi-Fi hop.
    # Upload (~1/3 of download on asymmetric DSL/cable plans), jitter and loss are assumptions.
    "wifi": LinkFigures(uplink_mbps=15.0, downlink_mbps=40.0, rtt_ms=20.0, jitter_ms=3.0,
                        loss_rate=0.001),
    # LTE. OpenSignal "State of LTE" (Nov 2016): global average 4G download 17.4 Mbit/s;
    # OpenSignal "State of Mobile Networks: USA" (2016): 4G latency 57-65 ms by operator.
    # Upload ~1/3 of download (typical LTE asymmetry), jitter and loss are assumptions.
    "4g": LinkFigures(uplink_mbps=6.0, downlink_mbps=17.4, rtt_ms=60.0, jitter_ms=10.0,
                      loss_rate=0.005),
    # HSPA. OpenSignal "State of Mobile Networks: USA" (2016): 3G download 3-4.6 Mbit/s for the
    # two fastest operators; 3G latencies there are about twice the 4G ones (~120 ms).
    "3g": LinkFigures(uplink_mbps=1.0, downlink_mbps=3.0, rtt_ms=120.0, jitter_ms=25.0,
                      loss_rate=0.01),
    # A crowded or cell-edge mobile link: Ookla market reports Q1 2023 give median mobile
    # multi-server latencies up to 184 ms (Cameroon, best operator); 1-2 Mbit/s down and 2% loss
    # are a stress case, not a measured median.
    "congested": LinkFigures(uplink_mbps=0.5, downlink_mbps=1.5, rtt_ms=200.0, jitter_ms=50.0,
                             loss_rate=0.02),
}
