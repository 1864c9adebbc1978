"""Host work of a round per participant, phase by phase: what a pool spends around the training
steps (begin_round: each client's modules, batches and, vectorised, the stacks; end_round: its
contribution and personal state) beside the steps themselves (the pools' client side and the
server step), with clients in turn and stacked, in one process.

    python benchmarks/host_work.py [--participants 100] [--samples 32]
        [--rounds 8] [--device cpu] [--algorithm splitgp] [--threads 1]

On a GPU the steps shrink and the begin/end work stays (it is CPU work on small tensors), so
begin + end per participant against the stacked step time is what bounds a vectorised round's
speed-up there. The round is the one benchmarks/vectorised.py times (quickstart model, random
1x28x28 inputs, one local epoch, LocalRuntime, lockstep), driven here phase by phase; the first
two rounds (building module instances and kernels) are not counted; figures are medians over
the rest."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from vectorised import bench_runtime  # benchmarks/vectorised.py, beside this script

from harmony_sim.algorithms.placement import device_sync
from harmony_sim.runtime import LocalRuntime
from harmony_sim.runtime.server import StepProtocol

PHASES = ("begin", "client steps", "server steps", "end")


def timed_round(runtime: LocalRuntime, round_idx: int, participants: list[int],
                sync: Callable[[], None] | None) -> dict[str, float]:
    """Seconds per phase of one round, driven as LocalRuntime._train_round drives it (one
    pool; the replica scheme's steps all count as client steps)."""
    [pool] = runtime.pools
    spent = dict.fromkeys(PHASES, 0.0)

    def run(phase: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        out = call(*args)
        if sync is not None:
            sync()
        spent[phase] += time.perf_counter() - started
        return out

    server = runtime.server
    steps = run("begin", pool.begin_round, round_idx, participants, server.global_model())
    if runtime.protocol is StepProtocol.IN_POOLS:  # each client's own replica of the back end
        run("client steps", pool.train_locally)
        steps = 0
    for _ in range(steps):
        uploads = run("client steps", pool.upload_step)
        if runtime.protocol is StepProtocol.PRIVATE_LABELS:
            logits = run("server steps", server.forward, uploads)
            grads = run("client steps", pool.answer_logits, logits)
            answers = run("server steps", server.backward, grads)
        else:
            answers = run("server steps", server.step, uploads)
        run("client steps", pool.apply_step, answers)
    result = run("end", pool.end_round)
    server.aggregate(result)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--algorithm", default="splitgp")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    n = args.participants
    print(f"{args.algorithm}, {n} participants x {args.samples} samples, batch 32, "
          f"{args.device}, {args.threads} thread(s), medians of {args.rounds - 2} rounds; "
          f"ms per participant")
    print(f"{'mode':10} " + " ".join(f"{p:>13}" for p in PHASES) + f" {'begin + end':>12}")
    for mode in ("off", "on"):
        runtime, participants = bench_runtime(n, args.samples, 32, args.algorithm, args.device,
                                              mode, None, args.threads)
        sync = device_sync(torch.device(args.device))
        rounds = [timed_round(runtime, r + 1, participants, sync) for r in range(args.rounds)]
        medians = {p: statistics.median(r[p] for r in rounds[2:]) * 1e3 / n for p in PHASES}
        label = "in turn" if mode == "off" else "vectorised"
        print(f"{label:10} " + " ".join(f"{medians[p]:13.3f}" for p in PHASES) +
              f" {medians['begin'] + medians['end']:12.3f}", flush=True)


if __name__ == "__main__":
    main()
