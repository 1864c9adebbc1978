"""The request simulation: latency from its parts, queueing under load, exit rules."""

from __future__ import annotations

import numpy as np
import pytest

from harmony_sim.evaluation import EXIT_RULES, ClientEvaluation
from harmony_sim.inference.requests import (
    ServerModel,
    TierWorkload,
    draw_requests,
    fallback_mask,
    serve_fifo,
    simulate,
)
from harmony_sim.network import Link, LinkFigures


def record(n: int = 40, client_id: int = 0, tier: str = "t") -> ClientEvaluation:
    """Half the samples sure (score 0.1, exit right), half unsure (0.9, only the server right)."""
    labels = np.arange(n, dtype=np.int16) % 5
    unsure = np.arange(n) % 2 == 1
    return ClientEvaluation(
        client_id=client_id, tier=tier, arch="a", n_train=10, labels=labels,
        is_ood=np.zeros(n, dtype=bool),
        exit_pred=np.where(unsure, (labels + 1) % 5, labels).astype(np.int16),
        exit_scores={**{rule: np.where(unsure, 0.9, 0.1).astype(np.float32)
                        for rule in EXIT_RULES},
                     "confidence": np.where(unsure, 0.8, 0.2).astype(np.float32)},
        server_pred=labels.copy(), server_pred_by_codec={"int8": (labels + 1) % 5})


QUIET = Link(LinkFigures(uplink_mbps=8.0, downlink_mbps=16.0, rtt_ms=40.0), jitter="none")


def test_latency_of_a_request_equals_its_parts_by_hand() -> None:
    tier = TierWorkload("t", [record()], device_s=0.004, link=QUIET)
    draws = draw_requests([tier], sources=1, rate_hz=0.05, duration_s=200.0, ood_ratio=0.0,
                          codec="fp32", payload_bytes=6272, response_bytes=8, seed=3,
                          rule="entropy")
    server = ServerModel(workers=1, service_s=0.0025)
    out = simulate(draws, [0.5], server)
    assert len(draws.arrival) >= 3 and out.fallback.any() and (~out.fallback).any()
    # Requests seconds apart never wait for the device or the server, so by hand:
    uplink = 6272 * 8 / 8e6 + 0.020  # serialisation + half the RTT
    downlink = 8 * 8 / 16e6 + 0.020
    by_hand = np.where(draws.ood_score > 0.5, 0.004 + uplink + 0.0025 + downlink, 0.004)
    assert np.diff(draws.arrival).min() > 0.1  # longer than any one latency
    assert out.latency_s == pytest.approx(by_hand)
    assert out.queue_s == pytest.approx(np.zeros(len(by_hand)))
    # Sure samples exit right, unsure ones the exit gets wrong and the server right.
    assert out.correct.all()
    on_device = simulate(draws, [1.0], server)  # nothing falls back
    assert np.array_equal(on_device.correct, draws.ood_score < 0.5)


def test_device_handles_its_requests_one_at_a_time() -> None:
    tier = TierWorkload("t", [record()], device_s=0.5, link=QUIET)
    draws = draw_requests([tier], 1, rate_hz=20.0, duration_s=5.0, ood_ratio=0.0, codec="fp32",
                          payload_bytes=100, response_bytes=8, seed=0, rule="entropy")
    done = draws.arrival + draws.device_wait
    assert np.diff(done) == pytest.approx(np.full(len(done) - 1, 0.5))  # saturated device


def test_fifo_queue_matches_the_md1_formula() -> None:
    """Poisson arrivals at one deterministic server: mean wait = rho * s / (2 (1 - rho))."""
    rng = np.random.default_rng(0)
    service, rho = 0.01, 0.7
    arrival = np.cumsum(rng.exponential(service / rho, 200_000))
    wait = serve_fifo(arrival, service, workers=1) - arrival
    assert wait.mean() == pytest.approx(rho * service / (2 * (1 - rho)), rel=0.05)


def test_queueing_delay_grows_with_load() -> None:
    tiers = [TierWorkload("t", [record(client_id=i) for i in range(4)], 0.001, QUIET)]
    server = ServerModel(workers=2, service_s=0.004)  # capacity 500 requests/s
    queue = []
    for sources in (10, 100, 200, 300, 600):  # fallback load: 5 .. 300 requests/s at 1 Hz x 1/2
        draws = draw_requests(tiers, sources, rate_hz=1.0, duration_s=60.0, ood_ratio=0.0,
                              codec="fp32", payload_bytes=1000, response_bytes=8, seed=1,
                              rule="entropy")
        out = simulate(draws, [0.5], server)
        queue.append(out.queue_s[out.fallback].mean())
    assert all(a < b for a, b in zip(queue, queue[1:], strict=False)), queue
    assert queue[0] < 1e-3 and queue[-1] > 10 * queue[1]


def test_exit_rules_and_codec_predictions() -> None:
    tier = TierWorkload("t", [record()], 0.001, QUIET)
    draws = draw_requests([tier], 3, 2.0, 20.0, 0.0, "int8", 800, 8, seed=0, rule="entropy")
    by_confidence = draw_requests([tier], 3, 2.0, 20.0, 0.0, "int8", 800, 8, seed=0,
                                  rule="confidence")
    assert np.array_equal(fallback_mask(draws, [0.5]), fallback_mask(by_confidence, [0.5]))
    assert fallback_mask(draws, [1.0]).sum() == 0
    assert fallback_mask(by_confidence, [0.1]).all()
    # int8 server predictions in this record are all wrong: only early exits answer right.
    out = simulate(draws, [0.5], ServerModel(1, 0.001))
    assert out.fallback.any() and np.array_equal(out.correct, ~out.fallback)


def test_draws_are_seeded_and_shared_across_tiers_order() -> None:
    tiers = [TierWorkload("a", [record(tier="a")], 0.001, QUIET),
             TierWorkload("b", [record(tier="b")], 0.002, QUIET, share=3.0)]
    one = draw_requests(tiers, 8, 1.0, 30.0, 0.0, "fp32", 800, 8, seed=5, rule="energy")
    two = draw_requests(tiers, 8, 1.0, 30.0, 0.0, "fp32", 800, 8, seed=5, rule="energy")
    assert np.array_equal(one.arrival, two.arrival)
    assert np.array_equal(one.uplink_s, two.uplink_s)
    assert len(np.unique(one.source[one.tier == 1])) == 6  # shares 1:3 of 8 sources
