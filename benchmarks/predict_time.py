"""Predicted vs measured training-step time on this host, over the model catalogue.

Prediction = train FLOPs x batch / host GFLOP/s, the rule the device clock and the latency budget
use. The host GFLOP/s comes from a host profile (--profile host.yaml, written by
`python -m harmony_sim profile`) or from a calibration pass run first in this script; the
measurement is a second, separate timing pass, back to back.

    PYTHONPATH=$PWD python benchmarks/predict_time.py [--profile host.yaml] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from harmony_sim.devices import load_profile_file
from harmony_sim.devices.benchmark import time_architecture
from harmony_sim.devices.host import catalogue, measure_host
from harmony_sim.models import CutSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import arch_cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, help="host profile YAML (default: calibrate)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--widths", nargs="+", type=float, default=[0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--depths", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    ctx = ModelContext((1, 28, 28), 10, CutSpec(32, 7))  # the quickstart's MNIST shapes
    archs = catalogue(None, args.widths, args.depths)
    calibration = measure_host(archs, ctx, args.batch, args.threads, 3)
    if args.profile:
        host_gflops = load_profile_file(args.profile).compute_gflops
        source = f"profile {args.profile}"
    else:
        host_gflops = calibration.train_gflops
        source = "calibration pass"
    # For comparison: an affine model (fixed per-step overhead + FLOPs / rate), least squares
    # on the calibration pass. Small nets are overhead-bound, which FLOPs alone cannot see.
    flops = np.array([c.train_step_flops() for c in calibration.costs], dtype=float)
    times = np.array([t.train_step_ms for t in calibration.timings])
    slope, overhead_ms = np.polyfit(flops, times, 1)
    torch.set_num_threads(args.threads)
    print(f"host GFLOP/s {host_gflops:.2f} ({source}); threads {args.threads}; "
          f"batch {args.batch}")
    print(f"affine fit: {overhead_ms:.2f} ms per step + FLOPs at {1e-6 / slope:.1f} GFLOP/s")
    print(f"{'arch':<22}{'MFLOP/step':>12}{'predicted ms':>14}{'measured ms':>13}{'error':>9}"
          f"{'affine ms':>11}{'error':>9}")
    errors, affine_errors = [], []
    for arch in archs:
        cost = arch_cost(arch, ctx, args.batch)
        predicted = cost.train_step_flops() / (host_gflops * 1e9) * 1e3
        measured = time_architecture(arch, ctx, args.batch, args.repeats).train_step_ms
        error = (predicted - measured) / measured
        affine = overhead_ms + slope * cost.train_step_flops()
        affine_error = (affine - measured) / measured
        errors.append(error)
        affine_errors.append(affine_error)
        print(f"{arch.id:<22}{cost.train_step_flops() / 1e6:>12.1f}{predicted:>14.2f}"
              f"{measured:>13.2f}{error:>+9.1%}{affine:>11.2f}{affine_error:>+9.1%}")
    for label, values in (("FLOPs / GFLOP/s", errors), ("affine", affine_errors)):
        abs_errors = [abs(e) for e in values]
        print(f"{label}: mean |error| {statistics.mean(abs_errors):.1%}; median |error| "
              f"{statistics.median(abs_errors):.1%}; max |error| {max(abs_errors):.1%} "
              f"over {len(values)} architectures")


if __name__ == "__main__":
    main()
