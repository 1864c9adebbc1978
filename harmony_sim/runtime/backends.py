"""Runtimes: the round loop talks to one of these. RayRuntime applies `ray.remote(...)` to the
plain ClientPool and Server classes; LocalRuntime runs the same classes in-process (tests).

After every round the driver keeps the state of that finished round: the server's exported
state and every trained client's personal state (references in-process; copies fetched from the
pool actors on Ray, only the round's participants each round). Checkpoints write that state, and
on Ray a pool or server actor that dies is restarted and given it back (see RayRuntime)."""

from __future__ import annotations

import logging
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harmony_sim.algorithms import GlobalModel
from harmony_sim.algorithms.records import PersonalState
from harmony_sim.algorithms.split_protocol import ReceivedMessage
from harmony_sim.data import Dataset
from harmony_sim.errors import RunFailure, UserInputError
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.evaluation.skew import CutFeatures
from harmony_sim.network.codecs import Codec
from harmony_sim.population import VirtualClient
from harmony_sim.round_report import ClientRoundReport
from harmony_sim.runtime.client_pool import ClientPool
from harmony_sim.runtime.faults import ActorRestarted, FaultEvent, RoundFaults
from harmony_sim.runtime.ray_actors import (
    POLL_S,
    ActorWatch,
    RayPool,
    RayServer,
    quiet_recovered_errors,
)
from harmony_sim.runtime.server import Server, StepProtocol
from harmony_sim.scenario import Scenario

log = logging.getLogger(__name__)
MAX_DEFAULT_POOLS = 8
RESTART_WAIT_S = 180.0  # how long a restarting actor may take to answer again
Chooser = Callable[[Sequence[ClientRoundReport]], set[int]]


class Runtime(ABC):
    """What the round loop needs: train a round, evaluate clients, read the global model."""

    def __init__(self, clients: Sequence[VirtualClient], num_pools: int) -> None:
        self.num_pools = num_pools
        self.clients = {c.client_id: c for c in clients}
        # The state after the last finished round (see the module docstring).
        self._server_state: dict[str, Any] = {}
        self._personal: dict[int, PersonalState] = {}
        self._instances: list[str] = []  # pool actors' instance ids, then the server's
        self.current_round = 0
        self.last_faults = RoundFaults()
        self.fault_log: list[FaultEvent] = []
        # Test hook: called with the round index once a round's first calls are under way.
        self.round_started_hook: Callable[[int], None] | None = None

    def pool_of(self, client_id: int) -> int:
        """Clients stay on one pool for the whole run, so their personal state stays there."""
        return client_id % self.num_pools

    def by_pool(self, client_ids: Sequence[int]) -> list[list[int]]:
        groups: list[list[int]] = [[] for _ in range(self.num_pools)]
        for cid in client_ids:
            groups[self.pool_of(cid)].append(cid)
        return groups

    def hosted_by_pool(self) -> list[list[VirtualClient]]:
        """Every pool's clients in one pass over the population (start-up is O(registered))."""
        groups: list[list[VirtualClient]] = [[] for _ in range(self.num_pools)]
        for cid, client in sorted(self.clients.items()):
            groups[self.pool_of(cid)].append(client)
        return groups

    pools: Sequence[Any]
    server: Any

    # ---- how calls reach the pools and the server (in-process or Ray actors) -----------------
    @abstractmethod
    def _call(self, target: Any, method: str, *args: Any) -> Any:
        """Start `target.method(*args)`; a value, or a future for `_get`."""

    @abstractmethod
    def _call_per_pool(self, target: Any, method: str, pools: int, *args: Any) -> list[Any]:
        """Start a server call that answers each of `pools` pools separately."""

    @abstractmethod
    def _get(self, value: Any) -> Any:
        """The value of what `_call` returned (a list of them too)."""

    # ---- the state of the last finished round ------------------------------------------
    def _take_snapshot(self, participants: Sequence[int] = ()) -> None:
        """Fetch the server's state and the participants' personal states (after a round, or
        at start-up); an actor answering from a new process raises ActorRestarted."""
        server = self._call(self.server, "export_state")
        pools = [self._call(pool, "personal_of", ids)
                 for pool, ids in zip(self.pools, self.by_pool(participants), strict=True)]
        server_state = self._get(server)
        answers = self._get(pools)
        instances = [inst for inst, _ in answers] + [server_state["instance"]]
        if self._instances and instances != self._instances:
            raise ActorRestarted("an actor answered from a new process")
        self._instances = instances
        self._server_state = server_state
        for _, states in answers:
            self._personal.update(states)

    def export_state(self) -> dict[str, Any]:
        """The state after the last finished round, for a checkpoint (no actor is asked)."""
        server = {k: v for k, v in self._server_state.items() if k != "instance"}
        return {"server": server, "personal": dict(self._personal)}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Continue from `export_state()` (of a run of the same scenario)."""
        personal = dict(state["personal"])
        calls = [self._call(self.server, "restore_state", state["server"])]
        for pool, hosted in zip(self.pools, self.hosted_by_pool(), strict=True):
            calls.append(self._call(pool, "restore_personal",
                                    {c.client_id: personal[c.client_id] for c in hosted
                                     if c.client_id in personal}))
        self._get(calls)
        self._personal = personal
        self._instances = []
        self._take_snapshot()

    # ---- training ------------------------------------------------------------------------
    def run_round(self, round_idx: int, participants: Sequence[int],
                  deadline_s: float | None = None,
                  choose: Chooser | None = None) -> list[ClientRoundReport]:
        """Train the participants and aggregate (see `_train_round`); on Ray, recover from
        actors that die meanwhile (`last_faults` says what that cost)."""
        self.current_round = round_idx
        self.last_faults = faults = RoundFaults()
        ids = sorted(participants)
        while True:
            try:
                reports = self._train_round(round_idx, ids, deadline_s, choose)
                self._take_snapshot(ids)
                return reports
            except Exception as exc:  # noqa: BLE001  (_recover re-raises what it cannot fix)
                lost, dead = self._recover(exc, ids, "training")
                faults.actor_failures += len(dead)
                faults.failed_clients |= lost
                drop = self._failure_policy() == "drop"
                if drop:
                    faults.dropped |= lost
                    ids = [c for c in ids if c not in lost]
                self.fault_log.extend(
                    FaultEvent(round_idx, actor, "training", "drop" if drop else "rerun",
                               len(lost)) for actor in dead)
                if faults.actor_failures > self._max_failures():
                    raise RunFailure(f"round {round_idx}: actors died {faults.actor_failures} "
                                     "times in one round; giving up (the last checkpoint "
                                     "stays; continue with --resume)") from None

    def _failure_policy(self) -> str:
        return "fail"

    def _max_failures(self) -> int:
        return 0

    def _recover(self, exc: Exception, participants: Sequence[int],
                 phase: str) -> tuple[set[int], list[str]]:
        """Restart what died and restore its state; (participants lost, dead actors' names).
        In-process nothing dies on its own, so the error goes on."""
        raise exc

    def _train_round(self, round_idx: int, participants: Sequence[int],
                     deadline_s: float | None = None,
                     choose: Chooser | None = None) -> list[ClientRoundReport]:
        """Train the participants and aggregate. Reports past `deadline_s` add no update; with
        `choose`, pools hold every update and only the clients it picks are aggregated.

        Lockstep: at every step each pool sends its clients' cut tensors in one message, the
        server actor answers them all with one optimiser step, and each pool applies its
        clients' gradients; clients with fewer batches drop out of later steps. On Ray every
        call of the round is queued at once (an actor runs its calls in order), so the driver
        waits only for the step counts and the reports."""
        model = self._call(self.server, "global_model")
        busy = [(pool, ids) for pool, ids in zip(self.pools, self.by_pool(participants),
                                                 strict=True) if ids]
        pools = [pool for pool, _ in busy]
        begun = [self._call(pool, "begin_round", round_idx, ids, model) for pool, ids in busy]
        if self.round_started_hook is not None:
            self.round_started_hook(round_idx)
        steps = self._get(begun)
        if self.protocol is StepProtocol.IN_POOLS:
            for pool in pools:
                self._call(pool, "train_locally")
        else:
            for _ in range(max(steps, default=0)):
                uploads = [self._call(pool, "upload_step") for pool in pools]
                if self.protocol is StepProtocol.PRIVATE_LABELS:
                    logits = self._call_per_pool(self.server, "forward", len(pools), *uploads)
                    grads = [self._call(pool, "answer_logits", part)
                             for pool, part in zip(pools, logits, strict=True)]
                    answers = self._call_per_pool(self.server, "backward", len(pools), *grads)
                else:
                    answers = self._call_per_pool(self.server, "step", len(pools), *uploads)
                for pool, part in zip(pools, answers, strict=True):
                    self._call(pool, "apply_step", part)
        hold = choose is not None
        results = [self._call(pool, "end_round", deadline_s, hold) for pool in pools]
        if not hold:
            # Pool results go straight to the server; the driver only gets the reports.
            return self._get(self._call(self.server, "aggregate", *results))
        # Held updates stay in the pools; only reports travel, then the chosen updates.
        reports = sorted((r for res in self._get(results) for r in res.reports),
                         key=lambda r: r.client_id)
        accepted = sorted(choose(reports))
        self._get(self._call(self.server, "aggregate",
                             *(self._call(pool, "commit", accepted) for pool in pools)))
        return reports

    def evaluate(self, client_ids: Sequence[int],
                 codecs: Sequence[Codec] = ()) -> list[ClientEvaluation]:
        """Per-sample evaluation records of these clients (server predictions also through each
        codec's decoded cut tensor)."""
        return self._per_client("evaluate", client_ids, codecs)

    def global_model(self) -> GlobalModel:
        return self._get(self._call(self.server, "global_model"))

    def cut_features(self, client_ids: Sequence[int], test_idx: np.ndarray) -> list[CutFeatures]:
        """Clients' cut tensors on shared test inputs (representation-skew probe)."""
        return self._per_client("cut_features", client_ids, test_idx)

    def _per_client(self, method: str, client_ids: Sequence[int], *args: Any) -> list[Any]:
        """`pool.method(ids, global_model, *args)` on every pool hosting some of `client_ids`;
        the per-client results of all pools, in client-id order. An actor that dies meanwhile
        is restarted and restored (on Ray) and the evaluation runs again."""
        for attempt in range(self._max_failures() + 1):
            try:
                return self._per_client_once(method, client_ids, *args)
            except Exception as exc:  # noqa: BLE001  (_recover re-raises what it cannot fix)
                if attempt == self._max_failures():
                    raise
                _, dead = self._recover(exc, (), "evaluation")
                self.fault_log.extend(FaultEvent(self.current_round, actor, "evaluation",
                                                 "retry", 0) for actor in dead)
        raise AssertionError("unreachable")

    def _per_client_once(self, method: str, client_ids: Sequence[int], *args: Any) -> list[Any]:
        model = self._call(self.server, "global_model")
        futures = [self._call(pool, method, ids, model, *args)
                   for pool, ids in zip(self.pools, self.by_pool(client_ids), strict=True) if ids]
        found = [item for part in self._get(futures) for item in part]
        return sorted(found, key=lambda item: item.client_id)

    def close(self) -> None:  # noqa: B027  (optional hook: in-process runtimes hold nothing)
        """Release processes the runtime started."""


class LocalRuntime(Runtime):
    """Everything in this process: for tests and debugging (no parallelism)."""

    def __init__(self, scenario: Scenario, dataset: Dataset, clients: Sequence[VirtualClient],
                 record_server_messages: bool = False) -> None:
        super().__init__(clients, scenario.runtime.pool_actors or 1)
        threads = scenario.runtime.threads_per_actor
        archs = {c.arch for c in clients}
        self.pools = [ClientPool(scenario, dataset, hosted, archs, threads,
                                 record_server_messages)
                      for hosted in self.hosted_by_pool()]
        self.server = Server(scenario, dataset, archs,
                             record_server_messages)
        self.protocol = self.server.protocol()
        self._take_snapshot()

    def _call(self, target: Any, method: str, *args: Any) -> Any:
        return getattr(target, method)(*args)

    def _call_per_pool(self, target: Any, method: str, pools: int, *args: Any) -> list[Any]:
        answer = getattr(target, method)(*args)
        return [answer] if pools == 1 else list(answer)

    def _get(self, value: Any) -> Any:
        return value

    def received_server_messages(self) -> list[ReceivedMessage]:
        """Every message the server side received (lockstep server and pool replicas)."""
        return [*self.server.received_messages(),
                *(m for pool in self.pools for m in pool.received_server_messages())]


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
            if address:
                check_reachable(address)
            began = time.perf_counter()
            try:
                ray.init(address=address, num_cpus=None if address else os.cpu_count(),
                         include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=True)
            except ConnectionError as exc:
                raise UserInputError(f"runtime.address: cannot reach a Ray cluster at "
                                     f"{address!r} ({exc}); check the address or drop it to "
                                     "start a local instance") from None
            log.info("ray: %s in %.1f s", f"joined {address}" if address else
                     f"started a local instance ({os.cpu_count()} CPUs)",
                     time.perf_counter() - began)
        threads = scenario.runtime.threads_per_actor
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        num_pools = scenario.runtime.pool_actors or max(1, min(MAX_DEFAULT_POOLS,
                                                               int(cpus // threads)))
        super().__init__(clients, num_pools)
        self.scenario = scenario
        # One copy in the object store, zero-copy in every actor; kept referenced (as are the
        # pools' clients) so Ray can hand them to an actor it restarts.
        dataset_ref = ray.put(dataset)
        restarts = {"max_restarts": self._restarts(), "max_task_retries": 0}
        gpus = actor_gpus(scenario.runtime.gpus_per_actor,
                          float(ray.cluster_resources().get("GPU", 0.0)), num_pools)
        if scenario.runtime.device == "cuda" and gpus <= 0:
            # Said here, once: an actor without a GPU share sees no GPU and would fail inside Ray.
            raise UserInputError("runtime.device: cuda, but the actors get no GPU share (the Ray "
                                 "cluster reports no GPU, or runtime.gpus_per_actor is 0); use "
                                 "auto or cpu, or join a cluster with GPUs")
        hosted = self.hosted_by_pool()
        # Each pool reserves its threads and the largest training working set among its clients
        # (it trains one client at a time), so Ray never packs more than a node can hold.
        # SPREAD: on a cluster, pools go to different nodes before doubling up on one.
        self._shipped = [[dataset_ref, ray.put(hosted[i])] for i in range(num_pools)]
        pool_cls = ray.remote(RayPool)
        self.pools = [pool_cls.options(num_cpus=threads, num_gpus=gpus,
                                       scheduling_strategy="SPREAD", **restarts,
                                       **pool_memory(hosted[i]))
                      .remote(scenario, self._shipped[i], {c.arch for c in clients}, threads)
                      for i in range(num_pools)]
        # The server takes no CPU slot so pools can use every core: in lockstep it computes
        # while the pools wait for its answer, and otherwise it only merges sums.
        self.server = ray.remote(RayServer).options(num_cpus=0, num_gpus=gpus,
                                                    **restarts).remote(
            scenario, [dataset_ref], {c.arch for c in clients})
        self.protocol = ray.get(self.server.protocol.remote())
        self._watch = ActorWatch([*self.pools, self.server])
        quiet_recovered_errors()
        self._take_snapshot()
        sizes = [len(h) for h in hosted]
        log.info("ray: %d pool actors x %d threads (%d-%d clients each), %.3g GPU per actor, "
                 "server actor; placed on %d node(s)", num_pools, threads, min(sizes),
                 max(sizes), gpus, len({n for n in self.pool_nodes() if n}))

    # ---- recovery from actors that die --------------------------------------------------
    def _restarts(self) -> int:
        return 0 if self._failure_policy() == "fail" else self.scenario.runtime.max_actor_restarts

    def _failure_policy(self) -> str:
        return self.scenario.runtime.on_actor_failure

    def _max_failures(self) -> int:
        return self._restarts()

    def _recover(self, exc: Exception, participants: Sequence[int],
                 phase: str) -> tuple[set[int], list[str]]:
        """After a failed call: wait for every actor to answer, give restarted ones the last
        finished round's state, and (training) put back the participants' personal states on
        the pools that survived. (participants hosted by restarted actors, their names); the
        error goes on when no actor died (a real error)."""
        from ray.exceptions import RayActorError, RayError

        if not isinstance(exc, RayError | ActorRestarted):
            raise exc
        if self._failure_policy() == "fail":
            if isinstance(exc, RayActorError | ActorRestarted) or self._watch.changed():
                raise RunFailure(f"a Ray actor died during {phase} ({type(exc).__name__}) and "
                                 "runtime.on_actor_failure is fail; the last checkpoint stays "
                                 "(continue with --resume DIR)") from None
            raise exc
        for _ in range(self._max_failures() + 1):
            instances = self._await_actors(exc)
            restarted = [i for i, (old, new) in enumerate(zip(self._instances, instances,
                                                              strict=True)) if old != new]
            if not restarted:
                raise exc
            try:
                self._restore_after_failure(restarted, participants)
            except (RayError, ActorRestarted) as again:  # another death meanwhile: again
                exc = again
                continue
            server_restarted = self.num_pools in restarted
            by_pool = self.by_pool(participants)
            lost = (set(participants) if server_restarted
                    else {c for i in restarted for c in by_pool[i]})
            names = [self._actor_name(i) for i in restarted]
            log.info("%s died during %s (%s); restarted and restored", ", ".join(names), phase,
                     type(exc).__name__)
            return lost, names
        raise RunFailure(f"actors kept dying during {phase}; giving up (the last checkpoint "
                         "stays; continue with --resume DIR)")

    def _restore_after_failure(self, restarted: Sequence[int],
                               participants: Sequence[int]) -> None:
        """The server gets the last finished round's state back; a restarted pool all its
        clients' personal states, a surviving one its participants' (the round is undone)."""
        calls = [self._call(self.server, "restore_state", self._server_state)]
        by_pool = self.by_pool(participants)
        hosted = self.hosted_by_pool()
        for i, pool in enumerate(self.pools):
            if i in restarted:
                calls.append(self._call(pool, "restore_personal", {
                    c.client_id: self._personal[c.client_id] for c in hosted[i]
                    if c.client_id in self._personal}))
            else:
                calls.append(self._call(pool, "abort_round", {
                    cid: self._personal.get(cid) for cid in by_pool[i]}))
        answers = self._get(calls)
        self._instances = [*answers[1:], answers[0]]

    def _actor_name(self, index: int) -> str:
        return "server" if index == self.num_pools else f"pool {index}"

    def _await_actors(self, exc: Exception) -> list[str]:
        """Every actor's instance id once Ray reports them all alive again (restarts take
        seconds: a new process imports torch); RunFailure when one is dead for good."""
        from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

        actors = [*self.pools, self.server]
        deadline = time.monotonic() + RESTART_WAIT_S
        while True:
            states = self._watch.states()
            if states is not None and "DEAD" in states:
                self._gone_for_good(states.index("DEAD"), exc)
            if states is None or all(state == "ALIVE" for state in states):
                try:
                    answers = self._ray.get([actor.instance_id.remote() for actor in actors],
                                            timeout=30)
                    self._watch.rebase()
                    return [str(a) for a in answers]
                except ActorDiedError as died:
                    index = next((i for i, a in enumerate(actors)
                                  if a._actor_id.hex() == getattr(died, "actor_id", None)), 0)
                    self._gone_for_good(index, exc)
                except (ActorUnavailableError, GetTimeoutError):
                    pass
            if time.monotonic() > deadline:
                raise RunFailure(f"actors did not come back within {RESTART_WAIT_S:.0f} s after "
                                 f"{type(exc).__name__}; the last checkpoint stays (continue "
                                 "with --resume DIR)")
            time.sleep(POLL_S)

    def _gone_for_good(self, index: int, exc: Exception) -> None:
        raise RunFailure(f"{self._actor_name(index)} actor died ({type(exc).__name__}) and Ray "
                         "will not restart it again (runtime.max_actor_restarts: "
                         f"{self._restarts()}); the last checkpoint stays (continue with "
                         "--resume DIR)") from None

    def pool_nodes(self) -> list[str | None]:
        """The Ray node id each pool actor runs on."""
        return self._ray.get([pool.node_id.remote() for pool in self.pools])

    def pool_memory(self) -> list[dict[str, int]]:
        return self._ray.get([pool.memory_bytes.remote() for pool in self.pools])

    def _call(self, target: Any, method: str, *args: Any) -> Any:
        return getattr(target, method).remote(*args)

    def _call_per_pool(self, target: Any, method: str, pools: int, *args: Any) -> list[Any]:
        answer = getattr(target, method).options(num_returns=pools).remote(*args)
        return [answer] if pools == 1 else list(answer)

    def _get(self, value: Any) -> Any:
        """ray.get, watching the actors meanwhile: a death raises ActorRestarted within a poll
        interval (the calls queued behind a dead actor may take far longer to fail)."""
        refs = list(value) if isinstance(value, list) else [value]
        pending = [r for r in refs if isinstance(r, self._ray.ObjectRef)]
        while pending:
            _, pending = self._ray.wait(pending, num_returns=len(pending), timeout=POLL_S,
                                        fetch_local=False)
            if pending and self._watch.changed():
                raise ActorRestarted("a Ray actor died or is restarting")
        return self._ray.get(value)

    def close(self) -> None:
        for actor in [*self.pools, self.server]:
            self._ray.kill(actor)
        if self._started_ray:
            self._ray.shutdown()


def pool_memory(clients: Sequence[VirtualClient]) -> dict[str, int]:
    """Ray `memory` request of a pool: its clients' largest estimated training memory."""
    need = max((c.memory_bytes for c in clients), default=0)
    return {"memory": need} if need > 0 else {}


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens at (ray.init would retry for minutes)."""
    if "://" in address or ":" not in address:  # "auto", "ray://...": Ray resolves those
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise UserInputError(f"runtime.address: cannot reach a Ray cluster at {address!r} "
                             f"({exc}); check HOST:PORT (the head's GCS port, 6379 by "
                             "default) or drop --address to start a local instance") from None


def actor_gpus(configured: float | None, cluster_gpus: float, num_pools: int) -> float:
    """GPUs per actor: the configured share, else the cluster's GPUs split evenly over the pools
    and the server (0 where Ray reports none, so CPU-only clusters schedule as before)."""
    if configured is not None:
        return configured
    if cluster_gpus <= 0:
        return 0.0
    return min(1.0, cluster_gpus / (num_pools + 1))


def create_runtime(scenario: Scenario, dataset: Dataset,
                   clients: Sequence[VirtualClient]) -> Runtime:
    if scenario.runtime.backend == "local":
        return LocalRuntime(scenario, dataset, clients)
    return RayRuntime(scenario, dataset, clients)
