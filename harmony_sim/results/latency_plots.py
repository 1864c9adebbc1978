"""PNG plots of the latency study: accuracy-latency Pareto per tier, latency against load."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

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


def pareto_rows(points: Sequence[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """The (latency, accuracy, tag) points no other point beats on both (lower latency, higher
    accuracy), by latency; the tag names the point on the plot."""
    front: list[tuple[float, float, Any]] = []
    for x, y, tag in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y, tag))
    return front


def plot_latency_pareto(rows: Sequence[dict[str, Any]], run_dir: RunDirectory,
                        title: str = "fallback latency study") -> None:
    """One column per tier: accuracy against p95 (top) and mean (bottom) latency. Colour: the
    network condition; line style: the codec; each curve's points are the exit thresholds.
    Black steps: the Pareto front, each of its points labelled with its threshold (and its
    condition and codec when those differ along the front)."""
    tiers = list(dict.fromkeys(r["tier"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    codecs = [c for c in CODEC_STYLES if any(r["codec"] == c for r in rows)]
    colors = dict(zip(conditions, cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"]),
                      strict=False))
    fig, axes = plt.subplots(2, len(tiers), figsize=(4.2 * len(tiers) + 1.8, 7.6),
                             squeeze=False)
    for col, tier in enumerate(tiers):
        mine = [r for r in rows if r["tier"] == tier and r.get("requests")]
        for ax, key in zip(axes[:, col], ("p95_ms", "mean_ms"), strict=True):
            for condition in conditions:
                for codec in codecs:
                    curve = sorted((r["threshold"], r[key], r["accuracy"]) for r in mine
                                   if r["condition"] == condition and r["codec"] == codec)
                    if curve:
                        _, xs, ys = zip(*curve, strict=True)
                        ax.plot(xs, ys, CODEC_STYLES[codec], marker=".", ms=4, lw=1,
                                color=colors[condition], alpha=0.8)
            _draw_front(ax, pareto_rows([(r[key], r["accuracy"], r) for r in mine]))
            ax.set_xscale("log")
            ax.set_xlabel(f"{key.removesuffix('_ms')} latency per request (ms, log scale)")
            ax.grid(alpha=0.3, which="both")
        axes[0, col].set_title("all tiers" if tier == "all" else f"tier {tier}")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (early exit + server fallback)")
    condition_handles = [Line2D([], [], color=colors[c], lw=2, label=c) for c in conditions]
    codec_handles = [Line2D([], [], color="black", ls=CODEC_STYLES[c], label=c) for c in codecs]
    front_handle = [Line2D([], [], color="black", lw=2, alpha=0.6, marker="o", ms=4,
                           label="Pareto front\n(label: threshold)")]
    legend = fig.legend(handles=condition_handles, title="network", loc="upper right",
                        bbox_to_anchor=(1.0, 0.9), fontsize=8, title_fontsize=8)
    fig.add_artist(legend)
    fig.legend(handles=codec_handles + front_handle, title="cut codec", loc="upper right",
               bbox_to_anchor=(1.0, 0.55), fontsize=8, title_fontsize=8)
    fig.suptitle(f"{title}\neach point: one exit threshold (lower threshold: more requests "
                 "fall back to the server)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.7 / (4.2 * len(tiers) + 1.8), 1))
    fig.savefig(run_dir.file(LATENCY_PARETO_PLOT), dpi=110)
    plt.close(fig)


def _draw_front(ax: Any, front: Sequence[tuple[float, float, dict[str, Any]]]) -> None:
    if not front:
        return
    fx, fy, chosen = zip(*front, strict=True)
    ax.step(fx, fy, where="post", color="black", lw=1.5, alpha=0.6)
    ax.plot(fx, fy, "o", color="black", ms=3.5, alpha=0.8)
    # Name the condition/codec only where the front mixes them (else the threshold says all).
    mixed = {k for k in ("condition", "codec") if len({r[k] for r in chosen}) > 1}
    for i, (x, y, row) in enumerate(front):
        text = f"{row['threshold']:g}" + "".join(f" {row[k]}" for k in ("condition", "codec")
                                                if k in mixed)
        ax.annotate(text, (x, y), xytext=(4, 5 if i % 2 == 0 else -9),
                    textcoords="offset points", fontsize=6.5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.7})


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
        ax.set_title(f"network: {condition}")
        ax.set_xlabel("latency per request (ms, log scale)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("share of requests answered within")
    axes[0][-1].legend(loc="lower right", fontsize=7, title="tier", title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(run_dir.file(LATENCY_CDF_PLOT), dpi=110)
    plt.close(fig)
