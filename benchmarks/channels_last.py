"""Memory layout benchmark: the CPU work of a run in torch's default layout (NCHW, contiguous)
and in channels_last (NHWC), the layout models compute in on CPU (harmony_sim/models/layout.py).

    PYTHONPATH=. python benchmarks/channels_last.py [--families plain_cnn resnet mobilenet]
        [--threads 1] [--repeats 15] [--batch-size 32]

For each model family (width 1, depth 1, the quickstart's cut 32x7x7, GroupNorm) it times, in
one process with the two layouts' calls alternating (medians of `--repeats`):
- a client step: extractor + exit head forward, backward and SGD step on a 1x28x28 batch;
- inference: the extractor on 512 images (evaluation, fallback requests);
and, once, the server back end's training step at 160 and 3,200 cut activations (a round's
lockstep step of 5 and 100 clients). Prints milliseconds per call and the channels_last speed-up
(NCHW time / channels_last time)."""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from harmony_sim.models import ArchSpec, build_exit_head, build_extractor, build_server_backend
from harmony_sim.models.architecture import CutSpec
from harmony_sim.models.layout import CPU, place

CUT = CutSpec(32, 7)
CLASSES = 10
IMAGE = (1, 28, 28)


def laid_out(module: nn.Module, channels_last: bool) -> nn.Module:
    """A copy of `module` as a run would compute with it on CPU, or left in torch's default."""
    copied = copy.deepcopy(module)
    return place(copied, CPU) if channels_last else copied


def client_step(arch: ArchSpec, batch_size: int, channels_last: bool) -> Callable[[], None]:
    extractor = laid_out(build_extractor(arch, IMAGE[0], CUT, "group"), channels_last)
    head = laid_out(build_exit_head(CUT, CLASSES), channels_last)
    optimizer = torch.optim.SGD([*extractor.parameters(), *head.parameters()], lr=0.01)
    x, y = torch.randn(batch_size, *IMAGE), torch.randint(0, CLASSES, (batch_size,))
    cut_gradient = torch.randn(batch_size, *CUT.shape) * 1e-3

    def step() -> None:
        cut = extractor(x)
        # The server's gradient at the cut stands in for the back end's loss.
        loss = 0.5 * F.cross_entropy(head(cut), y) + (cut * cut_gradient).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def inference(arch: ArchSpec, channels_last: bool) -> Callable[[], None]:
    extractor = laid_out(build_extractor(arch, IMAGE[0], CUT, "group"), channels_last).eval()
    x = torch.randn(512, *IMAGE)

    def infer() -> None:
        with torch.no_grad():
            extractor(x)
    return infer


def server_step(cuts: int, channels_last: bool) -> Callable[[], None]:
    backend = laid_out(build_server_backend(CUT, CLASSES, "group"), channels_last)
    optimizer = torch.optim.SGD(backend.parameters(), lr=0.01)
    z = torch.randn(cuts, *CUT.shape, requires_grad=True)
    y = torch.randint(0, CLASSES, (cuts,))

    def step() -> None:
        loss = F.cross_entropy(backend(z), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def median_ms(calls: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls alternating (forwards, then backwards) so
    that a noisy machine's slow spells fall on both layouts."""
    for call in calls.values():
        call()  # warm: oneDNN picks and caches its kernels on a call's first shapes
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            start = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def report(label: str, nchw: Callable[[], None], channels_last: Callable[[], None],
           repeats: int) -> None:
    ms = median_ms({"nchw": nchw, "channels_last": channels_last}, repeats)
    print(f"{label:34} {ms['nchw']:9.2f} {ms['channels_last']:14.2f} "
          f"{ms['nchw'] / ms['channels_last']:8.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["plain_cnn", "resnet", "mobilenet"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), batch {args.batch_size}, "
          f"median of {args.repeats}")
    print(f"{'call':34} {'NCHW ms':>9} {'channels_last ms':>14} {'speed-up':>9}")
    for family in args.families:
        arch = ArchSpec(family, 1.0, 1)
        report(f"{family} client step", client_step(arch, args.batch_size, False),
               client_step(arch, args.batch_size, True), args.repeats)
        report(f"{family} inference (512 images)", inference(arch, False),
               inference(arch, True), args.repeats)
    for cuts in (160, 3200):
        report(f"server step ({cuts} cuts)", server_step(cuts, False),
               server_step(cuts, True), args.repeats)


if __name__ == "__main__":
    main()
