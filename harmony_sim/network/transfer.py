"""The one transfer-time function: every simulated message crosses a link through it.

time = bytes * 8 / bandwidth            (serialisation)
     + RTT / 2                          (one-way propagation)
     + jitter                           (one-way delay variation, drawn per message)
     + retransmissions                  (per lost packet: a timeout plus re-sending it)
"""

from __future__ import annotations

import numpy as np

from harmony_sim.network.link import Link

# Ethernet MTU 1500 minus 40 bytes of IPv4 + TCP headers: payload bytes per packet.
MSS_BYTES = 1460


def transfer_time(nbytes: np.ndarray | int, link: Link, direction: str,
                  rng: np.random.Generator) -> np.ndarray:
    """Seconds to move each message of `nbytes` over `link` ('up' or 'down'); one random draw
    per message from `rng` (the same draws for the same shape, so sweeps compare like with like).

    Jitter: 'exponential' adds a non-negative delay with std-dev jitter_ms (queueing delay is
    one-sided); 'normal' adds N(0, jitter_ms) truncated so propagation never goes below zero.
    Loss: each packet is lost independently with loss_rate and re-sent until it arrives; every
    loss costs max(retransmit timeout, RTT) plus the packet's serialisation again."""
    nbytes = np.atleast_1d(np.asarray(nbytes, dtype=np.float64))
    f = link.figures
    mbps = f.uplink_mbps if direction == "up" else f.downlink_mbps
    bits_per_s = mbps * 1e6
    half_rtt = f.rtt_ms / 2e3
    # Draw every random part for every message, whatever the figures, so that changing one
    # figure (e.g. jitter kind) does not shift the draws of the others. Callers give each
    # purpose its own rng: the loss draw consumes a variable amount of randomness.
    unit_exp = rng.standard_exponential(nbytes.shape)
    unit_normal = rng.standard_normal(nbytes.shape)
    packets = np.maximum(np.ceil(nbytes / MSS_BYTES), 1.0)
    # Failures before `packets` successes: the number of lost packets (negative binomial).
    losses = rng.negative_binomial(packets, 1.0 - f.loss_rate)
    jitter_s = f.jitter_ms / 1e3
    if link.jitter == "exponential":
        jitter = jitter_s * unit_exp
    elif link.jitter == "normal":
        jitter = np.maximum(jitter_s * unit_normal, -half_rtt)
    else:
        jitter = np.zeros_like(nbytes)
    penalty = max(link.retransmit_timeout_ms / 1e3, 2 * half_rtt)
    packet_s = np.minimum(nbytes, MSS_BYTES) * 8 / bits_per_s
    return nbytes * 8 / bits_per_s + half_rtt + jitter + losses * (penalty + packet_s)
