"""Discrete-event simulation of fallback inference: Poisson request streams per client, early exit
by an exit rule, a FIFO server with `workers` parallel back ends (an M/G/c-style queue fed
by the network), answers back over each client's link.

Two steps, so a threshold sweep reuses the random draws (common random numbers): `draw_requests`
fixes every arrival, test sample and transfer time; `simulate` applies per-tier thresholds, runs
the server queue (heapq of worker free times) and returns per-request latency parts.

latency = device compute (+ waiting for the device's previous request)
        + [fallback only] uplink + queueing + server compute + downlink
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.network import Link, transfer_time
from harmony_sim.population import tier_counts
from harmony_sim.seeding import numpy_rng


@dataclass(frozen=True)
class TierWorkload:
    """One tier as the simulation sees it: its clients' evaluation records (each simulated
    source replays one of them), on-device seconds per request, link, and share of sources."""

    name: str
    records: Sequence[ClientEvaluation]
    device_s: float
    link: Link
    share: float = 1.0


@dataclass(frozen=True)
class ServerModel:
    """`workers` back ends, each taking `service_s` per request."""

    workers: int
    service_s: float

    @property
    def capacity_hz(self) -> float:
        return self.workers / self.service_s


@dataclass
class RequestDraws:
    """Everything random about a request stream, one entry per request."""

    tier: np.ndarray  # index into the tiers
    source: np.ndarray
    arrival: np.ndarray  # seconds
    device_wait: np.ndarray  # device compute + waiting for the device's previous request
    uplink_s: np.ndarray  # time the cut tensor would take (used when the request falls back)
    downlink_s: np.ndarray
    uplink_bytes: np.ndarray
    label: np.ndarray
    exit_pred: np.ndarray  # -1: no exit head
    server_pred: np.ndarray  # -1: no server
    ood_score: np.ndarray  # the exit rule's calibrated score (falls back above the threshold)


@dataclass
class RequestOutcome:
    """Per-request results of one simulation."""

    draws: RequestDraws
    fallback: np.ndarray
    correct: np.ndarray
    queue_s: np.ndarray
    server_s: np.ndarray
    latency_s: np.ndarray


def sources_per_tier(tiers: Sequence[TierWorkload], sources: int) -> list[int]:
    return tier_counts([t.share for t in tiers], sources)


def device_finish(arrival: np.ndarray, device_s: float) -> np.ndarray:
    """When a device that handles its requests one at a time (FIFO) finishes each of them."""
    if len(arrival) < 2 or np.diff(arrival).min() >= device_s:
        return arrival + device_s  # no request waits for the previous one
    done = np.empty(len(arrival))
    free = 0.0
    for i, a in enumerate(arrival):
        free = done[i] = max(a, free) + device_s
    return done


def draw_requests(tiers: Sequence[TierWorkload], sources: int, rate_hz: float,
                  duration_s: float, ood_ratio: float, codec: str, payload_bytes: int,
                  response_bytes: int, seed: int, rule: str) -> RequestDraws:
    """Draw `sources` Poisson streams of rate `rate_hz` over `duration_s`, split over tiers by
    share; `rule` names the exit rule whose scores decide fallback. Source j of a tier replays
    the evaluation record j mod (records of the tier): each of its requests is a uniform draw
    from that client's test set at `ood_ratio`. Random streams are keyed by purpose, tier and
    source, not by network condition or codec, so sweeps compare the same requests."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in RequestDraws.__dataclass_fields__}
    source_id = 0
    for t_idx, (tier, count) in enumerate(zip(tiers, sources_per_tier(tiers, sources),
                                              strict=True)):
        if count and not tier.records:
            raise ValueError(f"tier {tier.name!r} has request sources but no evaluated clients")
        first = len(parts["arrival"])
        for j in range(count):
            rec = tier.records[j % len(tier.records)]
            rng = numpy_rng(seed, "inference", "requests", tier.name, j)
            n = rng.poisson(rate_hz * duration_s)
            arrival = np.sort(rng.uniform(0.0, duration_s, n))
            sample = rng.choice(rec.subset(ood_ratio), n)
            done = device_finish(arrival, tier.device_s)
            parts["tier"].append(np.full(n, t_idx))
            parts["source"].append(np.full(n, source_id))
            parts["arrival"].append(arrival)
            parts["device_wait"].append(done - arrival)
            parts["label"].append(rec.labels[sample].astype(np.int64))
            server = rec.server_pred if codec == "fp32" else rec.server_pred_by_codec.get(codec)
            if rec.server_pred is not None and server is None:
                raise ValueError(f"client {rec.client_id} was evaluated without codec {codec!r}")
            parts["server_pred"].append(np.full(n, -1) if server is None
                                        else server[sample].astype(np.int64))
            has_exit = rec.exit_pred is not None
            parts["exit_pred"].append(rec.exit_pred[sample].astype(np.int64) if has_exit
                                      else np.full(n, -1))
            parts["ood_score"].append(rec.exit_scores[rule][sample] if has_exit
                                      else np.ones(n, dtype=np.float32))
            source_id += 1
        n_tier = sum(len(a) for a in parts["arrival"][first:]) if count else 0
        up = np.full(n_tier, payload_bytes)
        parts["uplink_bytes"].append(up)
        parts["uplink_s"].append(transfer_time(
            up, tier.link, "up", numpy_rng(seed, "inference", "uplink", tier.name)))
        parts["downlink_s"].append(transfer_time(
            np.full(n_tier, response_bytes), tier.link, "down",
            numpy_rng(seed, "inference", "downlink", tier.name)))
    arrays = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in parts.items()}
    return RequestDraws(**arrays)


def fallback_mask(draws: RequestDraws, thresholds: Sequence[float]) -> np.ndarray:
    """Which requests go to the server: those whose exit-rule score is above their tier's
    threshold; requests without an exit always go, without a server never."""
    limit = np.asarray(thresholds, dtype=np.float64)[draws.tier]
    unsure = draws.ood_score > limit
    return ((draws.exit_pred < 0) | unsure) & (draws.server_pred >= 0)


def serve_fifo(arrival: np.ndarray, service_s: float, workers: int) -> np.ndarray:
    """Start times of requests arriving at `arrival` at a FIFO queue with `workers` servers of
    deterministic service time (event order by arrival; heap of each worker's next free time)."""
    order = np.argsort(arrival, kind="stable")
    start = np.empty(len(arrival))
    free = [0.0] * workers
    for i in order:
        earliest = heapq.heappop(free)
        start[i] = max(arrival[i], earliest)
        heapq.heappush(free, start[i] + service_s)
    return start


def simulate(draws: RequestDraws, thresholds: Sequence[float],
             server: ServerModel) -> RequestOutcome:
    """Apply the exit rule, queue the fallbacks at the server, and add up each latency."""
    fallback = fallback_mask(draws, thresholds)
    at_server = draws.arrival + draws.device_wait + draws.uplink_s
    queue = np.zeros(len(fallback))
    served = np.zeros(len(fallback))
    start = serve_fifo(at_server[fallback], server.service_s, server.workers)
    queue[fallback] = start - at_server[fallback]
    served[fallback] = server.service_s
    network = np.where(fallback, draws.uplink_s + draws.downlink_s, 0.0)
    latency = draws.device_wait + network + queue + served
    answer = np.where(fallback, draws.server_pred, draws.exit_pred)
    return RequestOutcome(draws, fallback, answer == draws.label, queue, served, latency)


def outcome_figures(outcome: RequestOutcome, mask: np.ndarray | None = None) -> dict[str, float]:
    """p50/p95/p99/mean latency (ms), fallback rate, accuracy, mean queueing (ms), requests."""
    keep = np.ones(len(outcome.latency_s), dtype=bool) if mask is None else mask
    n = int(keep.sum())
    if n == 0:
        return {"requests": 0}
    ms = outcome.latency_s[keep] * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"requests": n, "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "mean_ms": float(ms.mean()), "fallback_rate": float(outcome.fallback[keep].mean()),
            "accuracy": float(outcome.correct[keep].mean()),
            "queue_ms": float(outcome.queue_s[keep].mean() * 1e3),
            "uplink_bytes": float((outcome.draws.uplink_bytes[keep]
                                   * outcome.fallback[keep]).mean())}
