"""Vectorised clients benchmark: one training round with the participants in turn
(runtime.vectorise: off) and stacked per architecture (on), on the CPU and, where torch sees
one, on the GPU, for 10 / 100 / 1,000 participants of one architecture.

    PYTHONPATH=. python benchmarks/vectorised.py [--participants 10 100 1000] [--samples 512]
        [--max-samples 64000] [--batch-size 32] [--algorithm splitgp] [--devices cpu cuda]
        [--threads N]

Each participant holds `--samples` random 1x28x28 images (the quickstart's model: plain_cnn
width 1 depth 1, cut 32x7x7, GroupNorm) and trains one local epoch; where participants x
samples would pass `--max-samples` (1,000 participants on CPU), each holds fewer, said in the
table (the round time then covers fewer steps; samples/s stays comparable). The round runs
in-process (LocalRuntime: the lockstep server step, begin and end of round included). Prints
round seconds and training samples per second for each (device, participants, mode) and the
vectorised speed-up (in-turn time / vectorised time); with --repeats the modes' rounds
alternate and the figures are medians (the speed-up: the median of the back-to-back pairs')."""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from harmony_sim.data import Dataset
from harmony_sim.data.partition import ClientData
from harmony_sim.models import ArchSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import arch_cost
from harmony_sim.population import VirtualClient
from harmony_sim.runtime import LocalRuntime
from harmony_sim.scenario.loading import scenario_from_dict


def synthetic(participants: int, samples: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n = participants * samples
    x = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return Dataset("random28", x, y, x[:10], y[:10], 10)


def bench_runtime(participants: int, samples: int, batch_size: int, algorithm: str,
                  device: str, vectorise: str, max_group: int | None, threads: int = 1,
                  runtime_type: type[LocalRuntime] = LocalRuntime
                  ) -> tuple[LocalRuntime, list[int]]:
    """An in-process runtime of `participants` clients of the quickstart model, each holding
    `samples` random images, every one of them taking part in each round; and their ids."""
    scenario = scenario_from_dict({
        "name": "vectorised-bench",
        "clients": {"count": participants, "per_round": participants},
        "training": {"rounds": 1, "local_epochs": 1, "batch_size": batch_size},
        "algorithm": {"name": algorithm},
        "runtime": {"backend": "local", "device": device, "vectorise": vectorise,
                    "max_group": max_group, "threads_per_actor": threads},
        "output": {"plots": False}})
    dataset = synthetic(participants, samples)
    arch = ArchSpec(scenario.model.family, scenario.model.width, scenario.model.depth)
    # The cost model's working set per client sizes the stacked calls, as in a real run.
    memory = arch_cost(arch, ModelContext.of(scenario.model, dataset.input_shape,
                                             dataset.num_classes), batch_size).peak_train_bytes
    empty = np.zeros(0, dtype=np.int32)
    clients = [VirtualClient(ClientData(cid, np.arange(10), np.arange(
        cid * samples, (cid + 1) * samples, dtype=np.int32), empty, empty), arch,
        memory_bytes=memory) for cid in range(participants)]
    return runtime_type(scenario, dataset, clients), list(range(participants))


def round_seconds(participants: int, samples: int, batch_size: int, algorithm: str,
                  device: str, vectorise: str, max_group: int | None, threads: int = 1,
                  warm_rounds: int = 0) -> float:
    """Seconds of one round, after `warm_rounds` untimed ones on the same runtime (a run's
    later rounds reuse its client module instances and warm kernels)."""
    runtime, ids = bench_runtime(participants, samples, batch_size, algorithm, device,
                                 vectorise, max_group, threads)
    for warm in range(warm_rounds):
        runtime.run_round(warm + 1, ids)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    runtime.run_round(warm_rounds + 1, ids)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def paired_rounds(modes: list[str], repeats: int,
                  run: Callable[..., float]) -> dict[str, list[float]]:
    """`repeats` rounds of every mode, interleaved and in alternating order (off on, on off,
    ...) so that drift of a shared machine falls on both modes alike."""
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for r in range(repeats):
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            times[mode].append(run(vectorise=mode))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--max-samples", type=int, default=64_000,
                        help="at most this many samples a round on CPU (fewer per participant)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--algorithm", default="splitgp")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--max-group", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of the pool (runtime.threads_per_actor)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds per (participants, mode), interleaved; medians are shown")
    parser.add_argument("--warm-rounds", type=int, default=0,
                        help="untimed rounds on the same runtime before the timed one (the "
                             "steady state of a run; 0: a run's first round)")
    parser.add_argument("--skip-sequential-above", type=int, default=None,
                        help="skip clients-in-turn runs above this many participants")
    args = parser.parse_args()
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    if "cuda" in args.devices and "cuda" not in devices:
        print("no GPU visible to torch: GPU figures skipped")
    print(f"{args.algorithm}, {args.samples} samples per participant, batch {args.batch_size}, "
          f"1 local epoch, {args.warm_rounds} untimed round(s) first, torch {torch.__version__}, "
          f"{args.threads} CPU thread(s), median of "
          f"{args.repeats} round(s)")
    print(f"{'device':6} {'participants':>12} {'samples':>7} {'mode':>10} {'round s':>9} "
          f"{'samples/s':>10} {'speed-up':>8}  {'each round' if args.repeats > 1 else ''}")
    for device in devices:
        for mode in ("off", "on"):  # untimed: kernel set-up (cuDNN, oneDNN) lands here
            round_seconds(10, args.batch_size, args.batch_size, args.algorithm, device, mode,
                          args.max_group, args.threads)
        for n in args.participants:
            samples = args.samples if device != "cpu" else \
                max(args.batch_size, min(args.samples, args.max_samples // n))
            modes = ["on"] if args.skip_sequential_above and n > args.skip_sequential_above \
                else ["off", "on"]
            times = paired_rounds(modes, args.repeats, functools.partial(
                round_seconds, n, samples, args.batch_size, args.algorithm, device,
                max_group=args.max_group, threads=args.threads, warm_rounds=args.warm_rounds))
            for mode in modes:
                seconds = statistics.median(times[mode])
                speedup = ""
                if mode == "on" and "off" in times:
                    # The median of per-repeat ratios: each pair ran back to back, so a slow
                    # spell of a shared machine hits both sides of a ratio alike.
                    ratios = [a / b for a, b in zip(times["off"], times["on"], strict=True)]
                    speedup = f"{statistics.median(ratios):.2f}x"
                label = "in turn" if mode == "off" else "vectorised"
                rounds = " ".join(f"{t:.2f}" for t in times[mode]) if args.repeats > 1 else ""
                print(f"{device:6} {n:12d} {samples:7d} {label:>10} {seconds:9.2f} "
                      f"{n * samples / seconds:10.0f} {speedup:>8}  {rounds}", flush=True)


if __name__ == "__main__":
    main()
