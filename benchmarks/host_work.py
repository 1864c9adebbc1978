"""Host work of a round per participant, phase by phase: what a pool spends around the training
steps (begin_round: each client's modules, batches and, vectorised, the stacks; end_round: its
contribution and personal state) beside the steps themselves (the pools' client side and the
server step), with clients in turn and stacked, in one process.

    python benchmarks/host_work.py [--participants 100] [--samples 32]
        [--rounds 8] [--device cpu] [--algorithm splitgp] [--threads 1]

On a GPU the steps shrink and the begin/end work stays (it is CPU work on small tensors), so
begin + end per participant against the stacked step time is what bounds a vectorised round's
speed-up there. The round is the one benchmarks/vectorised.py times (quickstart model, random
1x28x28 inputs, one local epoch, LocalRuntime, lockstep), each call to a pool or the server
timed into its phase ("rest": the global model, aggregation, the round's snapshot); the first
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

PHASES = ("begin", "client steps", "server steps", "end", "rest")
# The phase of each call a round makes; the rest: the global model, aggregation and the
# snapshot of the finished round.
PHASE_OF = {"begin_round": "begin", "upload_step": "client steps",
            "answer_logits": "client steps", "apply_step": "client steps",
            "train_locally": "client steps", "step": "server steps", "forward": "server steps",
            "backward": "server steps", "end_round": "end"}


class PhaseTimedRuntime(LocalRuntime):
    """An in-process runtime that adds each call to its pools and server (every call a round
    makes goes through them) to the seconds of its phase: the round runs exactly as a run's."""

    sync: Callable[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.spent = dict.fromkeys(PHASES, 0.0)  # the set-up's calls count nowhere
        super().__init__(*args, **kwargs)

    def _call(self, target: Any, method: str, *args: Any) -> Any:
        return self._timed(method, super()._call, target, method, *args)

    def _call_per_pool(self, target: Any, method: str, pools: int, *args: Any) -> list[Any]:
        return self._timed(method, super()._call_per_pool, target, method, pools, *args)

    def _timed(self, method: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        out = call(*args)
        if self.sync is not None:
            self.sync()
        self.spent[PHASE_OF.get(method, "rest")] += time.perf_counter() - started
        return out

    def timed_round(self, round_idx: int, participants: list[int]) -> dict[str, float]:
        """Seconds per phase of one round."""
        self.spent = dict.fromkeys(PHASES, 0.0)
        self.run_round(round_idx, participants)
        return self.spent


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
                                              mode, None, args.threads, PhaseTimedRuntime)
        assert isinstance(runtime, PhaseTimedRuntime)
        runtime.sync = device_sync(torch.device(args.device))
        rounds = [runtime.timed_round(r + 1, participants) for r in range(args.rounds)]
        medians = {p: statistics.median(r[p] for r in rounds[2:]) * 1e3 / n for p in PHASES}
        label = "in turn" if mode == "off" else "vectorised"
        print(f"{label:10} " + " ".join(f"{medians[p]:13.3f}" for p in PHASES) +
              f" {medians['begin'] + medians['end']:12.3f}", flush=True)


if __name__ == "__main__":
    main()
