"""PNG plots of the latency study: accuracy-latency Pareto per tier, latency against load."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import Any

import numpy as np

from harmony_sim.inference.requests import RequestOutcome, ServerModel
from harmony_sim.results.plots import plt
from harmony_sim.results.run_directory import (
    LATENCY_CDF_PLOT,
    LATENCY_PARETO_PLOT,
    SERVER_LOAD_PLOT,
    RunDirectory,
)
from harmony_sim.scenario import Scenario

CODEC_STYLES = {"fp32": "-", "fp16": "--", "int8": ":"}


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latency, accuracy) points no other point beats on both (lower latency, higher accuracy)."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def plot_latency_pareto(rows: Sequence[dict[str, Any]], run_dir: RunDirectory) -> None:
    """One column per tier: accuracy against p95 (top) and mean (bottom) latency, one curve per
    condition x codec whose points are the exit thresholds; black steps: the Pareto front."""
    tiers = list(dict.fromkeys(r["tier"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    colors = dict(zip(conditions, cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"]),
                      strict=False))
    fig, axes = plt.subplots(2, len(tiers), figsize=(4.0 * len(tiers) + 1.6, 7.0),
                             squeeze=False)
    for col, tier in enumerate(tiers):
        mine = [r for r in rows if r["tier"] == tier and r.get("requests")]
        for ax, key in zip(axes[:, col], ("p95_ms", "mean_ms"), strict=True):
            for condition in conditions:
                for codec, style in CODEC_STYLES.items():
                    curve = sorted((r["threshold"], r[key], r["accuracy"]) for r in mine
                                   if r["condition"] == condition and r["codec"] == codec)
                    if curve:
                        _, xs, ys = zip(*curve, strict=True)
                        ax.plot(xs, ys, style, marker=".", color=colors[condition],
                                label=f"{condition} {codec}")
            front = pareto_front([(r[key], r["accuracy"]) for r in mine])
            if front:
                fx, fy = zip(*front, strict=True)
                ax.step(fx, fy, where="post", color="black", lw=1, alpha=0.6,
                        label="Pareto front")
            ax.set_xscale("log")
            ax.set_xlabel(f"{key.removesuffix('_ms')} latency (ms, log)")
            ax.grid(alpha=0.3, which="both")
        axes[0, col].set_title(f"tier {tier}")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (early exit + fallback)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle("exit threshold sweep (each point is one threshold; lower threshold = more "
                 "fallback)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / (4.0 * len(tiers) + 1.6), 1))
    fig.savefig(run_dir.file(LATENCY_PARETO_PLOT), dpi=110)
    plt.close(fig)


def plot_server_load(rows: Sequence[dict[str, Any]], server: ServerModel, scenario: Scenario,
                     run_dir: RunDirectory) -> None:
    """p50/p95/p99 latency of all requests (and p95 per tier) against active clients, with the
    client count where the offered fallback load reaches the server's capacity."""
    everyone = sorted((r for r in rows if r["tier"] == "all" and r.get("requests")),
                      key=lambda r: r["clients"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = [r["clients"] for r in everyone]
    for key, style in (("p50_ms", "-"), ("p95_ms", "-"), ("p99_ms", "-")):
        ax.plot(xs, [r[key] for r in everyone], style, marker="o", label=f"all {key[:3]}")
    ax.plot(xs, [max(r["queue_ms"], 1e-3) for r in everyone], "-.", color="grey", marker="x",
            label="mean queueing (all requests)")
    for tier in dict.fromkeys(r["tier"] for r in rows if r["tier"] != "all"):
        mine = sorted((r for r in rows if r["tier"] == tier and r.get("requests")),
                      key=lambda r: r["clients"])
        ax.plot([r["clients"] for r in mine], [r["p95_ms"] for r in mine], "--", lw=1,
                label=f"{tier} p95")
    fallback = float(np.mean([r["fallback_rate"] for r in everyone])) if everyone else 0.0
    if fallback > 0:
        saturation = server.capacity_hz / (scenario.inference.request_rate_hz * fallback)
        ax.axvline(saturation, color="red", lw=1, ls=":",
                   label=f"server saturates (~{saturation:.0f} clients)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("active clients")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"{server.workers} worker(s) x {server.service_s * 1e3:.3g} ms/request, "
                 f"{scenario.inference.request_rate_hz:g} req/s per client", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir.file(SERVER_LOAD_PLOT), dpi=110)
    plt.close(fig)


def plot_latency_cdf(outcomes: dict[str, RequestOutcome], tier_names: Sequence[str],
                     title: str, run_dir: RunDirectory) -> None:
    """Latency CDF per tier, one panel per network condition."""
    fig, axes = plt.subplots(1, len(outcomes), figsize=(3.6 * len(outcomes), 3.4),
                             squeeze=False, sharey=True)
    for ax, (condition, outcome) in zip(axes[0], outcomes.items(), strict=True):
        for i, tier in enumerate(tier_names):
            ms = np.sort(outcome.latency_s[outcome.draws.tier == i] * 1e3)
            if len(ms):
                ax.plot(ms, np.arange(1, len(ms) + 1) / len(ms), label=tier)
        ax.set_xscale("log")
        ax.set_title(condition)
        ax.set_xlabel("latency (ms, log)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("share of requests")
    axes[0][-1].legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(run_dir.file(LATENCY_CDF_PLOT), dpi=110)
    plt.close(fig)
