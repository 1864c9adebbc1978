"""Runtimes: the round loop talks to one of these. RayRuntime applies `ray.remote(...)` to the
plain ClientPool and Server classes; LocalRuntime runs the same classes in-process (tests)."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

from harmony_sim.algorithms import GlobalModel
from harmony_sim.data import Dataset
from harmony_sim.errors import UserInputError
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.inference.codecs import Codec
from harmony_sim.runtime.client_pool import ClientPool, ClientRoundReport, VirtualClient
from harmony_sim.runtime.server import Server
from harmony_sim.scenario import Scenario

log = logging.getLogger(__name__)
MAX_DEFAULT_POOLS = 8


class Runtime(ABC):
    """What the round loop needs: train a round, evaluate clients, read the global model."""

    def __init__(self, clients: Sequence[VirtualClient], num_pools: int) -> None:
        self.num_pools = num_pools
        self.clients = {c.client_id: c for c in clients}

    def pool_of(self, client_id: int) -> int:
        """Clients stay on one pool for the whole run, so their personal state stays there."""
        return client_id % self.num_pools

    def by_pool(self, client_ids: Sequence[int]) -> list[list[int]]:
        groups: list[list[int]] = [[] for _ in range(self.num_pools)]
        for cid in client_ids:
            groups[self.pool_of(cid)].append(cid)
        return groups

    def hosted(self, pool_index: int) -> list[VirtualClient]:
        return [c for cid, c in sorted(self.clients.items()) if self.pool_of(cid) == pool_index]

    @abstractmethod
    def run_round(self, round_idx: int, participants: Sequence[int]) -> list[ClientRoundReport]:
        ...

    @abstractmethod
    def evaluate(self, client_ids: Sequence[int],
                 codecs: Sequence[Codec] = ()) -> list[ClientEvaluation]: ...

    @abstractmethod
    def global_model(self) -> GlobalModel: ...

    def close(self) -> None:
        """Release processes the runtime started."""


class LocalRuntime(Runtime):
    """Everything in this process: for tests and debugging (no parallelism)."""

    def __init__(self, scenario: Scenario, dataset: Dataset, clients: Sequence[VirtualClient],
                 record_server_messages: bool = False) -> None:
        super().__init__(clients, scenario.runtime.pool_actors or 1)
        threads = scenario.runtime.threads_per_actor
        self.pools = [ClientPool(scenario, dataset, self.hosted(i), threads,
                                 record_server_messages) for i in range(self.num_pools)]
        self.server = Server(scenario, dataset, {c.arch for c in clients})

    def run_round(self, round_idx: int, participants: Sequence[int]) -> list[ClientRoundReport]:
        model = self.server.global_model()
        results = [pool.train_round(round_idx, ids, model)
                   for pool, ids in zip(self.pools, self.by_pool(participants), strict=True)
                   if ids]
        return self.server.aggregate(*results)

    def evaluate(self, client_ids: Sequence[int],
                 codecs: Sequence[Codec] = ()) -> list[ClientEvaluation]:
        model = self.server.global_model()
        evals = [ev for pool, ids in zip(self.pools, self.by_pool(client_ids), strict=True)
                 if ids for ev in pool.evaluate(ids, model, codecs)]
        return sorted(evals, key=lambda e: e.client_id)

    def global_model(self) -> GlobalModel:
        return self.server.global_model()


class RayRuntime(Runtime):
    """Pool actors and a server actor on a local Ray instance or an existing cluster."""

    def __init__(self, scenario: Scenario, dataset: Dataset,
                 clients: Sequence[VirtualClient]) -> None:
        import ray

        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            self._started_ray = True
            address = scenario.runtime.address
            try:
                ray.init(address=address, num_cpus=None if address else os.cpu_count(),
                         include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=True)
            except ConnectionError as exc:
                raise UserInputError(f"runtime.address: cannot reach a Ray cluster at "
                                     f"{address!r} ({exc}); check the address or drop it to "
                                     "start a local instance") from None
        threads = scenario.runtime.threads_per_actor
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        num_pools = scenario.runtime.pool_actors or max(1, min(MAX_DEFAULT_POOLS,
                                                               int(cpus // threads)))
        super().__init__(clients, num_pools)
        dataset_ref = ray.put(dataset)  # one copy in the object store, zero-copy in every actor
        pool_cls = ray.remote(ClientPool).options(num_cpus=threads)
        self.pools = [pool_cls.remote(scenario, dataset_ref, self.hosted(i), threads)
                      for i in range(num_pools)]
        # The server only merges sums; it takes no CPU slot so pools can use every core.
        self.server = ray.remote(Server).options(num_cpus=0).remote(
            scenario, dataset_ref, {c.arch for c in clients})
        log.info("ray runtime: %d pool actors x %d threads", num_pools, threads)

    def run_round(self, round_idx: int, participants: Sequence[int]) -> list[ClientRoundReport]:
        model_ref = self.server.global_model.remote()
        results = [pool.train_round.remote(round_idx, ids, model_ref)
                   for pool, ids in zip(self.pools, self.by_pool(participants), strict=True)
                   if ids]
        # Pool results go straight to the server actor; the driver only gets the reports.
        return self._ray.get(self.server.aggregate.remote(*results))

    def evaluate(self, client_ids: Sequence[int],
                 codecs: Sequence[Codec] = ()) -> list[ClientEvaluation]:
        model_ref = self.server.global_model.remote()
        futures = [pool.evaluate.remote(ids, model_ref, codecs)
                   for pool, ids in zip(self.pools, self.by_pool(client_ids), strict=True)
                   if ids]
        evals = [ev for part in self._ray.get(futures) for ev in part]
        return sorted(evals, key=lambda e: e.client_id)

    def global_model(self) -> GlobalModel:
        return self._ray.get(self.server.global_model.remote())

    def close(self) -> None:
        for actor in [*self.pools, self.server]:
            self._ray.kill(actor)
        if self._started_ray:
            self._ray.shutdown()


def create_runtime(scenario: Scenario, dataset: Dataset,
                   clients: Sequence[VirtualClient]) -> Runtime:
    if scenario.runtime.backend == "local":
        return LocalRuntime(scenario, dataset, clients)
    return RayRuntime(scenario, dataset, clients)
