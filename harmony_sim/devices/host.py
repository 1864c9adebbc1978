"""`python -m harmony_sim profile`: measure this host and write it as a DeviceProfile YAML."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from harmony_sim.console import console
from harmony_sim.devices.benchmark import (
    ArchTiming,
    achieved_gflops,
    matmul_gflops,
    time_architecture,
)
from harmony_sim.devices.hardware import HostInfo, host_info
from harmony_sim.devices.profile import DeviceProfile
from harmony_sim.errors import UserInputError
from harmony_sim.models import FAMILIES, ArchSpec, CutSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import ArchCost, arch_cost

# The host's own link is not measured (that needs a server to talk to); a written profile takes
# Ookla's global fixed-broadband medians (Speedtest Global Index, September 2020: 85.73 Mbps
# down, 45.74 Mbps up, 21 ms latency) until the user edits them.
FIXED_DOWN_MBPS, FIXED_UP_MBPS, FIXED_RTT_MS = 85.73, 45.74, 21.0


@dataclass(frozen=True)
class HostMeasurement:
    info: HostInfo
    threads: int
    matmul_gflops: float
    train_gflops: float  # achieved over the catalogue (ratio of sums)
    costs: list[ArchCost]
    timings: list[ArchTiming]

    @property
    def efficiency(self) -> float:
        """Share of the dense-matmul rate that small conv-net training reaches on this host."""
        return self.train_gflops / self.matmul_gflops


def catalogue(families: Sequence[str] | None, widths: Sequence[float],
              depths: Sequence[int]) -> list[ArchSpec]:
    names = list(families) if families else FAMILIES.names()
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise UserInputError(f"--families: unknown model family {unknown[0]!r}; choose from: "
                             f"{', '.join(FAMILIES.names())}")
    return [ArchSpec(f, w, d) for f in names for w in widths for d in depths]


def measure_host(archs: Sequence[ArchSpec], ctx: ModelContext, batch: int, threads: int,
                 repeats: int = 5) -> HostMeasurement:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        costs = [arch_cost(a, ctx, batch) for a in archs]
        timings = [time_architecture(a, ctx, batch, repeats) for a in archs]
        dense = matmul_gflops()
    finally:
        torch.set_num_threads(previous)
    return HostMeasurement(host_info(), threads, dense, achieved_gflops(costs, timings), costs,
                           timings)


def host_profile(m: HostMeasurement, name: str) -> DeviceProfile:
    return DeviceProfile(name=name, tier="host", compute_gflops=round(m.train_gflops, 3),
                         cpu_cores=m.threads, memory_mb=round(m.info.available_mb, 1),
                         uplink_mbps=FIXED_UP_MBPS, downlink_mbps=FIXED_DOWN_MBPS,
                         rtt_ms=FIXED_RTT_MS)


def profile_yaml(profile: DeviceProfile, m: HostMeasurement) -> str:
    """The profile as YAML with every number's source beside it."""
    gpus = "; ".join(f"GPU{g.index} {g.name} {g.memory_mb:.0f} MB" for g in m.info.gpus) \
        or m.info.gpu_note
    return "\n".join([
        f"# Host profile written by `python -m harmony_sim profile` ({m.info.cpu_model}).",
        f"# GPUs: {gpus}. Compute is measured on the CPU with {m.threads} torch thread(s).",
        f"name: {profile.name}",
        "tier: host",
        f"compute_gflops: {profile.compute_gflops}  # measured: training GFLOP/s over "
        f"{len(m.costs)} catalogue architectures (sum FLOPs / sum time; dense matmul "
        f"{m.matmul_gflops:.1f} GFLOP/s, efficiency {m.efficiency:.2f})",
        f"cpu_cores: {profile.cpu_cores}  # measured: torch threads used "
        f"(psutil: {m.info.usable_cores} usable of {m.info.logical_cores} logical cores)",
        f"memory_mb: {profile.memory_mb}  # measured: psutil available memory "
        f"(total {m.info.memory_mb:.0f} MB)",
        f"uplink_mbps: {profile.uplink_mbps}  # not measured: Ookla Speedtest Global Index "
        "global fixed-broadband median upload, Sep 2020",
        f"downlink_mbps: {profile.downlink_mbps}  # not measured: same index, median download",
        f"rtt_ms: {profile.rtt_ms}  # not measured: same index, median latency",
        "jitter_ms: 0.0  # not measured",
        "availability: 1.0  # a host is always online",
        ""])


def _tables(m: HostMeasurement) -> list[Table]:
    info = Table(title="host")
    info.add_column("field")
    info.add_column("value")
    freq = f"{m.info.max_mhz:.0f} MHz" if m.info.max_mhz else "unknown"
    for key, value in [("cpu", m.info.cpu_model),
                       ("cores (physical/logical/usable)",
                        f"{m.info.physical_cores}/{m.info.logical_cores}/{m.info.usable_cores}"),
                       ("max frequency", freq),
                       ("memory total/available", f"{m.info.memory_mb:.0f} / "
                                                  f"{m.info.available_mb:.0f} MB"),
                       ("GPUs", "; ".join(f"{g.name} ({g.memory_mb:.0f} MB)"
                                          for g in m.info.gpus) or m.info.gpu_note),
                       ("torch threads", str(m.threads)),
                       ("dense matmul", f"{m.matmul_gflops:.1f} GFLOP/s"),
                       ("catalogue training", f"{m.train_gflops:.1f} GFLOP/s "
                                              f"(efficiency {m.efficiency:.2f})")]:
        info.add_row(key, value)
    bench = Table(title=f"catalogue micro-benchmark (batch {m.timings[0].batch})")
    bench.add_column("arch", no_wrap=True)
    for column in ("params", "train MFLOP/sample", "fwd ms/sample", "train ms/step",
                   "train GFLOP/s"):
        bench.add_column(column, justify="right")
    for cost, timing in zip(m.costs, m.timings, strict=True):
        bench.add_row(cost.arch, f"{cost.params:,}", f"{cost.train_flops / 1e6:.2f}",
                      f"{timing.forward_ms_per_sample:.3f}", f"{timing.train_step_ms:.2f}",
                      f"{timing.train_gflops:.1f}")
    return [info, bench]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harmony_sim profile",
                                     description="Measure this host (psutil, NVML) and "
                                     "micro-benchmark the model catalogue.")
    parser.add_argument("--out", type=Path, help="write the host as a device profile YAML")
    parser.add_argument("--name", default=None, help="profile name (default: host-<hostname>)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the usable cores)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--families", nargs="+", default=None)
    parser.add_argument("--widths", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--input-shape", nargs=3, type=int, default=[1, 28, 28],
                        metavar=("C", "H", "W"))
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    return parser


def profile_command(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    for flag, value in [("--batch", args.batch), ("--repeats", args.repeats),
                        ("--threads", args.threads or 1), ("--classes", args.classes)]:
        if value < 1:
            raise UserInputError(f"{flag}: must be at least 1 (got {value})")
    info = host_info()
    threads = args.threads or info.usable_cores
    ctx = ModelContext(tuple(args.input_shape), args.classes, CutSpec(32, 7))  # type: ignore[arg-type]
    archs = catalogue(args.families, args.widths, args.depths)
    measurement = measure_host(archs, ctx, args.batch, threads, args.repeats)
    for table in _tables(measurement):
        console.print(table)
    name = args.name or "host-" + "".join(c if c.isalnum() or c in "_.-" else "-"
                                          for c in socket.gethostname())
    profile = host_profile(measurement, name)
    if args.out:
        try:
            args.out.write_text(profile_yaml(profile, measurement))
        except OSError as exc:
            raise UserInputError(f"--out {args.out}: cannot write ({exc.strerror})") from None
        console.print(f"host profile written to {args.out}")
    return 0
