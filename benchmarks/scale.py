"""Scale benchmark: round time, client updates per second, peak memory and framework overhead
for 100 / 1,000 / 10,000 registered clients with the same number of participants per round.

    PYTHONPATH=. python benchmarks/scale.py [--clients 100 1000 10000] [--per-round 100]

Every size runs scenarios/ten-thousand-clients.yaml with `clients.count` set and the synthetic
dataset sized to keep about 20 train samples per client, so the work per round is the same and
only the number of registered clients changes. Framework overhead is the simulator's round time
over a plain single-process torch loop that trains the same clients on the same samples (same
model, loss, optimiser, epochs and batch size, personal mixing and averaging included), run in
the same script on the same number of cores: the Ray runtime with N pools x 1 thread against the
plain loop with N torch threads (N = 1 is the like-for-like figure: one core on each side), and
the in-process runtime (1 thread) against the plain loop with 1 thread (per-client bookkeeping
alone, without Ray)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil
import torch
from torch.nn import functional as F

from harmony_sim.data import Dataset, load_dataset
from harmony_sim.models import ArchSpec, CutSpec, build_exit_head, build_extractor
from harmony_sim.models.split_model import build_server_backend
from harmony_sim.population import VirtualClient, build_clients
from harmony_sim.results import RunDirectory
from harmony_sim.runtime import LocalRuntime, RayRuntime, Runtime
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.seeding import torch_generator
from harmony_sim.selection import sample_participants
from harmony_sim.simulation import run_simulation

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "ten-thousand-clients.yaml"
SAMPLES_PER_CLIENT = 25  # synthetic images per registered client (80% train)


class MemorySampler:
    """Peak of the summed proportional set size (PSS: shared pages split between the processes
    that map them) over this process and every process it started (Ray's daemons and workers)."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.peak_total = 0
        self.peak_workers = 0
        self._stop = threading.Event()
        self.paused = threading.Event()  # set while CPU time is measured: sampling costs CPU
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        me = psutil.Process()
        total = workers = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                pss = proc.memory_full_info().pss
                cmd = " ".join(proc.cmdline()[:1])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += pss
            if proc is me or cmd.startswith("ray::"):
                workers += pss
        self.peak_total = max(self.peak_total, total)
        self.peak_workers = max(self.peak_workers, workers)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.paused.is_set():
                self.sample()
            self._stop.wait(self.interval_s)


def scale_scenario(clients: int, per_round: int, rounds: int, backend: str,
                   pools: int) -> Scenario:
    return load_scenario(SCENARIO, [
        f"clients.count={clients}", f"clients.per_round={per_round}",
        f"data.synthetic_samples={max(clients * SAMPLES_PER_CLIENT, 2000)}",
        f"training.rounds={rounds}", f"runtime.backend={backend}", f"runtime.pool_actors={pools}",
        "runtime.threads_per_actor=1", "evaluation.max_clients=100"])


def timed_rounds(run_dir: Path) -> list[float]:
    """Wall time of training rounds: not round 1 (modules are built) nor the last (it evaluates)."""
    with open(run_dir / "rounds.csv") as handle:
        rows = list(csv.DictReader(handle))
    return [float(r["wall_s"]) for r in rows[1:-1]]


# ---- the plain loop: SplitGP written directly in torch, no simulator in the way ----------------
class PlainSplitGP:
    """One process, modules built once, state dicts swapped per client."""

    def __init__(self, scenario: Scenario, dataset: Dataset) -> None:
        m = scenario.model
        cut = CutSpec(m.cut_channels, m.cut_size)
        self.scenario = scenario
        self.dataset = dataset
        self.extractor = build_extractor(ArchSpec(m.family, m.width, m.depth),
                                         dataset.input_shape[0], cut, m.norm)
        self.head = build_exit_head(cut, dataset.num_classes)
        self.backend = build_server_backend(cut, dataset.num_classes, m.norm)
        self.global_state = {name: {k: v.clone() for k, v in mod.state_dict().items()}
                             for name, mod in self.modules().items()}
        self.personal: dict[int, dict[str, dict[str, torch.Tensor]]] = {}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"extractor": self.extractor, "head": self.head, "backend": self.backend}

    def train_round(self, round_idx: int, clients: Sequence[VirtualClient]) -> None:
        t, lam = self.scenario.training, self.scenario.algorithm.lam
        gamma = self.scenario.algorithm.gamma
        sums = {n: {k: torch.zeros_like(v) for k, v in s.items()}
                for n, s in self.global_state.items()}
        total = 0.0
        for client in clients:
            mine = self.personal.get(client.client_id)
            for name, module in self.modules().items():
                state = self.global_state[name]
                if mine is not None and name in mine:
                    state = {k: lam * mine[name][k] + (1 - lam) * v for k, v in state.items()}
                module.load_state_dict(state)
            device = list(self.extractor.parameters()) + list(self.head.parameters())
            opt_c = torch.optim.SGD(device, lr=t.lr, momentum=t.momentum)
            opt_s = torch.optim.SGD(self.backend.parameters(), lr=t.lr, momentum=t.momentum)
            idx = client.data.train_idx
            x = torch.from_numpy(self.dataset.train_x[idx])
            y = torch.from_numpy(self.dataset.train_y[idx])
            gen = torch_generator(self.scenario.seed, "batches", client.client_id, round_idx)
            seen = 0
            for _ in range(t.local_epochs):
                order = torch.randperm(len(y), generator=gen)
                for start in range(0, len(y), t.batch_size):
                    chosen = order[start:start + t.batch_size]
                    if len(chosen) < 2 and len(y) > 1:
                        continue
                    cut = self.extractor(x[chosen])
                    loss = gamma * F.cross_entropy(self.head(cut), y[chosen]) + \
                        (1 - gamma) * F.cross_entropy(self.backend(cut), y[chosen])
                    opt_c.zero_grad()
                    opt_s.zero_grad()
                    loss.backward()
                    opt_c.step()
                    opt_s.step()
                    seen += len(chosen)
            for name, module in self.modules().items():
                for k, v in module.state_dict().items():
                    sums[name][k] += seen * v
            self.personal[client.client_id] = {
                n: {k: v.clone() for k, v in self.modules()[n].state_dict().items()}
                for n in ("extractor", "head")}
            total += seen
        self.global_state = {n: {k: v / max(total, 1.0) for k, v in s.items()}
                             for n, s in sums.items()}


EXTRA_ROUNDS = 3  # rounds after the run, timed in CPU seconds on both sides


def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and every process it started (Ray included)."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def extra_rounds(scenario: Scenario) -> range:
    first = scenario.training.rounds + 1
    return range(first, first + EXTRA_ROUNDS)


def plain_round_times(scenario: Scenario, dataset: Dataset, clients: Sequence[VirtualClient],
                      threads: int) -> tuple[list[float], list[float]]:
    """The plain loop over the very participants the simulator trained: wall seconds of rounds
    2..R-1 and CPU seconds of the extra rounds."""
    torch.set_num_threads(threads)
    plain = PlainSplitGP(scenario, dataset)
    wall, cpu = [], []
    for r in [*range(1, scenario.training.rounds), *extra_rounds(scenario)]:
        chosen = [clients[c] for c in sample_participants(scenario, r)]
        started, cpu_started = time.perf_counter(), time.process_time()
        plain.train_round(r, chosen)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return wall[1:scenario.training.rounds - 1], cpu[-EXTRA_ROUNDS:]


def simulate(scenario: Scenario, runtime: Runtime,
             memory: MemorySampler) -> tuple[list[float], list[float], list[dict[str, int]]]:
    """Round wall times of a full run, then CPU seconds (whole process tree) of extra rounds
    on the same runtime, which are robust to other load on the machine."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDirectory.create(Path(tmp) / "run")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the run's own summary tables
                run_simulation(scenario, run_dir, show_progress=False, runtime=runtime)
            cpu = []
            memory.sample()
            memory.paused.set()
            for r in extra_rounds(scenario):
                participants = sample_participants(scenario, r)
                started = tree_cpu_seconds()
                runtime.run_round(r, participants)
                cpu.append(tree_cpu_seconds() - started)
            memory = (runtime.pool_memory() if isinstance(runtime, RayRuntime)
                      else [p.memory_bytes() for p in runtime.pools])  # type: ignore[attr-defined]
        finally:
            runtime.close()
        return timed_rounds(run_dir.path), cpu, memory


def population_bytes(scenario: Scenario, dataset: Dataset) -> tuple[list[VirtualClient], int]:
    """The clients, and the Python heap they take (tracemalloc: objects and index arrays)."""
    tracemalloc.start()
    clients = build_clients(scenario, dataset)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return clients, size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (>= 3)")
    parser.add_argument("--variants", nargs="+",
                        default=["ray:1", f"ray:{psutil.cpu_count() or 1}", "local:1"],
                        help="BACKEND:CORES runs; ray:N = N pool actors x 1 thread, compared "
                        "with the plain loop on N torch threads")
    parser.add_argument("--no-plain", action="store_true",
                        help="skip the plain-loop comparison (round time and memory only)")
    args = parser.parse_args(argv)
    import ray

    header = (f"{'clients':>8} {'runtime':>12} {'round_s':>8} {'upd/s':>7} {'plain_s':>8} "
              f"{'overhead':>8} {'cpu_s':>7} {'plain':>7} {'cpu_x':>7} {'peak_MB':>8} "
              f"{'actors_MB':>9} {'B/client':>8} {'personal_B':>10}")
    print(header, flush=True)
    for count in args.clients:
        per_round = min(args.per_round, count)
        plain_cache: dict[int, tuple[list[float], list[float]]] = {}
        for variant in dict.fromkeys(args.variants):
            backend, _, cores_text = variant.partition(":")
            cores = int(cores_text or 1)
            scenario = scale_scenario(count, per_round, args.rounds, backend, cores)
            with MemorySampler() as memory:
                dataset = load_dataset(scenario.data, scenario.seed)
                clients, pop_bytes = population_bytes(scenario, dataset)
                if backend == "ray":
                    ray.init(num_cpus=cores, include_dashboard=False, logging_level="ERROR")
                    runtime: Runtime = RayRuntime(scenario, dataset, clients)
                else:
                    runtime = LocalRuntime(scenario, dataset, clients)
                sim_times, sim_cpu, pool_memory = simulate(scenario, runtime, memory)
                memory.sample()
                if ray.is_initialized():
                    ray.shutdown()
            if cores not in plain_cache and not args.no_plain:  # back to back with the run
                plain_cache[cores] = plain_round_times(scenario, dataset, clients, cores)
            sim_s, sim_cpu_s = statistics.median(sim_times), statistics.median(sim_cpu)
            plain_s, plain_cpu_s = ((statistics.median(plain_cache[cores][0]),
                                     statistics.median(plain_cache[cores][1]))
                                    if cores in plain_cache else (math.nan, math.nan))
            trained = sum(m["trained_clients"] for m in pool_memory)
            personal = sum(m["personal_bytes"] for m in pool_memory) / max(trained, 1)
            print(f"{count:>8} {backend + f' x{cores}':>12} {sim_s:>8.3f} "
                  f"{per_round / sim_s:>7.1f} {plain_s:>8.3f} {sim_s / plain_s:>7.2f}x "
                  f"{sim_cpu_s:>7.2f} {plain_cpu_s:>7.2f} {sim_cpu_s / plain_cpu_s:>6.2f}x "
                  f"{memory.peak_total / 2**20:>8.0f} {memory.peak_workers / 2**20:>9.0f} "
                  f"{pop_bytes / count:>8.0f} {personal:>10.0f}", flush=True)
            del dataset, clients
    print("round_s: median wall time of a training round (simulator); plain_s: the plain torch "
          "loop on the same clients and cores; overhead = round_s / plain_s; "
          "cpu_s / plain: CPU seconds per round (simulator: every process of the run, Ray "
          "daemons included), cpu_x their ratio; peak_MB: summed PSS "
          "of this process and all it started (Ray daemons too); actors_MB: driver + ray:: "
          "workers; B/client: driver heap per registered client; personal_B: stored personal "
          "weights per client that trained", file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
