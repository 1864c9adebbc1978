"""A pool hosts many virtual clients in one process and runs them in turn.

Thousands of clients cannot each own a process, so each pool keeps its clients compactly
(index arrays, architecture, personal weights once a client has trained) and builds their
models from a per-architecture module cache. A round runs step by step: the runtime asks every
pool for its clients' uploads (`upload_step`), has the server actor answer them all together,
and hands the answers back (`apply_step`). Under the replica scheme the server side runs here
instead, on one copy of the back end per client (`train_locally`)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from harmony_sim.aggregation import UpdateAccumulator
from harmony_sim.algorithms import GlobalModel, create_algorithm
from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.placement import device_sync, log_once, stacks_by_default
from harmony_sim.algorithms.records import ClientForward, ClientModels, PersonalState, TrainStats
from harmony_sim.algorithms.split_protocol import (
    CutGradient,
    CutUpload,
    ReceivedMessage,
    ServerTrainer,
    TrafficCounter,
    server_ce_grad,
)
from harmony_sim.algorithms.vectorised import VectorisedClients
from harmony_sim.data import Dataset
from harmony_sim.devices.clock import DeviceClock, timed
from harmony_sim.evaluation import ClientEvaluation
from harmony_sim.evaluation.records import Prediction, client_evaluation
from harmony_sim.evaluation.skew import CutFeatures
from harmony_sim.models import ArchSpec
from harmony_sim.network.codecs import Codec
from harmony_sim.population import VirtualClient
from harmony_sim.round_report import ClientRoundReport, client_round_time
from harmony_sim.scenario import Scenario
from harmony_sim.seeding import torch_generator

log = logging.getLogger(__name__)
EVAL_BATCH = 512


@dataclass
class ClientSession:
    """One participant's state during a round."""

    client: VirtualClient
    models: ClientModels
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    clock: DeviceClock
    optimizer: torch.optim.Optimizer | None = None  # in turn only (a stack has its own step)
    stats: TrainStats = field(default_factory=TrainStats)
    traffic: TrafficCounter = field(default_factory=TrafficCounter)
    next_batch: int = 0
    forward: ClientForward | None = None  # between upload_step and apply_step
    replica: ServerTrainer | None = None  # the replica scheme's own back end

    @property
    def finished(self) -> bool:
        return self.next_batch >= len(self.batches)


@dataclass
class PoolRoundResult:
    updates: UpdateAccumulator
    reports: list[ClientRoundReport]


class ClientPool:
    """Plain class (a Ray actor via runtime.backends, or used in-process)."""

    def __init__(self, scenario: Scenario, dataset: Dataset, clients: Sequence[VirtualClient],
                 architectures: Iterable[ArchSpec], threads: int = 1,
                 record_server_messages: bool = False) -> None:
        torch.set_num_threads(threads)
        self.threads = threads
        self.scenario = scenario
        self.dataset = dataset
        self.clients = {c.client_id: c for c in clients}
        self.algorithm = create_algorithm(scenario.algorithm,
                                          RunContext.of(
            scenario, dataset, architectures))  # every client's, as in the server
        self.personal: dict[int, PersonalState] = {}  # only clients that trained
        self.personal_dtype = getattr(torch, scenario.runtime.personal_dtype)
        self.pending: dict[int, UpdateAccumulator] = {}
        self.record_server_messages = record_server_messages
        self.server_messages: list[ReceivedMessage] = []
        self.sessions: dict[int, ClientSession] = {}  # this round's participants
        self.wait: Callable[[], None] | None = None  # for the training device's queued work
        self.round_model: GlobalModel | None = None
        # Tells the driver whether this is still the process it gave state to: a pool actor
        # that Ray restarted after a crash starts again from __init__, with no personal state.
        self.instance = uuid.uuid4().hex

    def hosted_clients(self) -> list[int]:
        return sorted(self.clients)

    def pid(self) -> int:
        return os.getpid()

    def instance_id(self) -> str:
        return self.instance

    # ---- state the driver keeps a copy of (checkpoints, recovery after a crash) --------------
    def personal_of(self, client_ids: Sequence[int]) -> tuple[str, dict[int, PersonalState]]:
        """This instance's id and the stored personal state (storage dtype) of those of
        `client_ids` that have one."""
        return self.instance, {cid: self.personal[cid] for cid in client_ids
                               if cid in self.personal}

    def restore_personal(self, states: Mapping[int, PersonalState]) -> str:
        """Replace every hosted client's personal state (absent: not trained yet); drops any
        round in flight. This instance's id."""
        self._drop_round()
        self.personal = {cid: state for cid, state in states.items() if cid in self.clients}
        return self.instance

    def abort_round(self, states: Mapping[int, PersonalState | None]) -> str:
        """Drop the round in flight and put back these clients' personal states (None: not
        trained yet), as they were before the round. This instance's id."""
        self._drop_round()
        for cid, state in states.items():
            if state is None:
                self.personal.pop(cid, None)
            else:
                self.personal[cid] = state
        return self.instance

    def _drop_round(self) -> None:
        self.sessions = {}
        self.pending = {}
        self.round_model = None

    def node_id(self) -> str | None:
        """The Ray node this pool runs on (None in-process)."""
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None

    # ---- one round, step by step (the runtime drives the steps) ------------------------------
    def begin_round(self, round_idx: int, client_ids: Sequence[int],
                    global_model: GlobalModel) -> int:
        """Set up the participants' modules, optimisers and batches; the number of steps the
        busiest of them will take."""
        algorithm, device = self.algorithm, self.algorithm.device
        self.round_model = global_model
        self.sessions = {}
        self.wait = device_sync(device)
        for cid in sorted(client_ids):
            client = self.clients[cid]
            torch.set_num_threads(client.threads or self.threads)
            models = algorithm.client_models(client.arch, global_model, self._personal(cid), cid)
            algorithm.start_training(models)
            batches = list(self._batches(client, round_idx, device))
            self.sessions[cid] = ClientSession(
                client, models, batches,
                DeviceClock(client.time_scale, client.seconds_per_sample, self.wait))
        if device.type == "cuda" and any(s.clock.seconds_per_sample is None
                                         for s in self.sessions.values()):
            log_once("clients.device_clock: measured scales GPU seconds by the CPU's GFLOP/s; "
                     "use device_clock: flops for device times on a GPU", logging.WARNING)
        # Stacked per architecture (runtime.vectorise), else in turn on the device; models go
        # back to the CPU when the round's steps are done (apply_step).
        training = [s for s in self.sessions.values() if s.batches]
        self.vectorised: VectorisedClients | None = None
        setting = self.scenario.runtime.vectorise
        if training and (setting == "on" or (
                setting == "auto" and stacks_by_default(device))):
            reason = algorithm.stacking_blocker(training[0].models)
            if reason is None:
                self.vectorised = VectorisedClients(
                    algorithm, {s.client.client_id: s.models for s in training}, device,
                    self.scenario.runtime.max_group,
                    max(s.client.memory_bytes for s in training), self.threads)
            else:
                log_once(f"clients trained in turn: {reason}", logging.WARNING)  # not per round
        if self.vectorised is None:
            for session in training:
                session.optimizer = algorithm.make_optimizer(session.models.to(device).parameters())
        return max((len(s.batches) for s in self.sessions.values()), default=0)

    def upload_step(self) -> list[CutUpload]:
        """Every client with a batch left runs its forward pass; their uploads, one message."""
        uploads = []
        active = [s for s in self.sessions.values() if not s.finished]
        if self.vectorised is not None and active:
            with timed(self.wait) as elapsed:
                forwards = self.vectorised.forward({s.client.client_id: s.batches[s.next_batch]
                                                    for s in active})
            share = elapsed.seconds / len(active)  # the group's time, shared
            for session in active:
                session.forward = forwards[session.client.client_id]
                session.clock.host_s += share
        for session in active:
            if self.vectorised is None:
                x, y = session.batches[session.next_batch]
                with session.clock.device_work():
                    session.forward = self.algorithm.client_forward(session.models, x, y)
            assert session.forward is not None
            upload = session.forward.upload
            if upload is not None:
                session.traffic.up(upload.cut)
                if upload.labels is not None:
                    session.traffic.up(upload.labels)
                uploads.append(upload)
        return uploads

    def answer_logits(self, logits: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Private labels: each client's dL/dlogits against labels that never leave it."""
        grads = {}
        for cid, client_logits in logits.items():
            session = self.sessions[cid]
            forward = session.forward
            assert forward is not None and forward.upload is not None
            with session.clock.device_work():
                grads[cid], loss = server_ce_grad(client_logits.to(forward.labels.device),
                                                  forward.labels,
                                                  forward.upload.views,
                                                  self.algorithm.server_loss_weight)
            session.stats.server_loss += loss
            session.traffic.down(client_logits)
            session.traffic.up(grads[cid])
        return grads

    def apply_step(self, answers: Mapping[int, CutGradient]) -> None:
        """Every client that uploaded applies the server's gradient (if any) and steps."""
        stepping = {cid: s for cid, s in self.sessions.items() if s.forward is not None}
        exit_losses: dict[int, float] = {}
        if self.vectorised is not None and stepping:
            with timed(self.wait) as elapsed:
                exit_losses = self.vectorised.backward(
                    {cid: None if (a := answers.get(cid)) is None else a.grad
                     for cid in stepping},
                    {cid: a.simulated for cid in stepping if (a := answers.get(cid)) is not None})
            share = elapsed.seconds / len(stepping)
        for cid, session in stepping.items():
            forward = session.forward
            assert forward is not None
            answer = answers.get(cid)
            if answer is not None:
                session.traffic.down(answer.grad)
                if answer.simulated is not None:
                    session.traffic.down(answer.simulated)
                if answer.server_loss is not None:
                    session.stats.server_loss += answer.server_loss
            if self.vectorised is None:
                with session.clock.device_work():
                    assert session.optimizer is not None
                    self.algorithm.client_backward(
                        session.models, session.optimizer, forward,
                        None if answer is None else answer.to(self.algorithm.device))
            else:
                session.clock.host_s += share
            session.clock.step(forward.samples)
            stats = session.stats
            stats.samples += forward.samples
            stats.batches += 1
            if cid in exit_losses:
                stats.exit_loss += exit_losses[cid]
            elif forward.exit_loss is not None:
                stats.exit_loss += float(forward.exit_loss.detach())
            session.forward = None
            session.next_batch += 1
        if stepping and all(s.finished for s in self.sessions.values()):
            # The round's steps are done: trained weights into (CPU) modules for end_round.
            if self.vectorised is not None:
                self.vectorised.write_back()
                self.vectorised = None
            elif self.algorithm.device.type != "cpu":
                for session in self.sessions.values():
                    session.models.to(torch.device("cpu"))

    def train_locally(self) -> None:
        """Every step of the round inside this pool: the server side, if any, on each client's
        own replica of the back end (SplitFed-V1), so it needs no other actor."""
        if self.algorithm.uses_server:
            for session in self.sessions.values():
                session.replica = self.algorithm.server_trainer(self.round_model)
                assert session.replica is not None
                session.replica.record = self.record_server_messages
                session.replica.keep_features = True  # offered to the queue after the round
        while any(not s.finished for s in self.sessions.values()):
            answers: dict[int, CutGradient] = {}
            for upload in self.upload_step():
                replica = self.sessions[upload.client_id].replica
                assert replica is not None
                if self.algorithm.private_labels:
                    answers.update(replica.backward(self.answer_logits(replica.forward([upload]))))
                else:
                    answers.update(replica.step([upload]))
            self.apply_step(answers)

    def end_round(self, deadline_s: float | None = None,
                  hold: bool = False) -> PoolRoundResult:
        """One report per client and the summed updates. A client whose simulated time passes
        `deadline_s` reports but adds no update. With `hold`, every update is kept per client
        until `commit` names the ones that count. The device keeps its personal weights either
        way."""
        algorithm, model = self.algorithm, self.round_model
        updates = UpdateAccumulator()
        reports = []
        self.pending = {}
        if model is None:  # no round in flight (a call queued before this process restarted)
            return PoolRoundResult(updates, reports)
        for cid, session in sorted(self.sessions.items()):
            stats, batches = session.stats, max(session.stats.batches, 1)
            report = ClientRoundReport(
                client_id=cid, tier=session.client.tier, arch=session.client.arch.id,
                samples=stats.samples, batches=stats.batches, exit_loss=stats.exit_loss / batches,
                server_loss=stats.server_loss / batches,
                uplink_bytes=session.traffic.uplink_bytes,
                downlink_bytes=session.traffic.downlink_bytes,
                compute_s=session.clock.host_s, device_s=session.clock.device_s)
            target = UpdateAccumulator() if hold else updates
            if hold or deadline_s is None or client_round_time(report) <= deadline_s:
                # Weighted by the client's training-set size (FedAvg's n_k).
                algorithm.contribute(session.models, float(len(session.client.data.train_idx)),
                                     model, target)
                if session.replica is not None:
                    algorithm.contribute_server(session.replica, model, target)
            if hold:
                self.pending[cid] = target
            if session.replica is not None:
                self.server_messages.extend(session.replica.received)
            self.personal[cid] = self._compact(algorithm.personal_state(session.models))
            algorithm.release(session.models)
            reports.append(report)
        self.sessions = {}
        return PoolRoundResult(updates, reports)

    def train_round(self, round_idx: int, client_ids: Sequence[int],
                    global_model: GlobalModel, deadline_s: float | None = None,
                    hold: bool = False) -> PoolRoundResult:
        """A whole round inside this pool (replica scheme, or algorithms without a server)."""
        self.begin_round(round_idx, client_ids, global_model)
        self.train_locally()
        return self.end_round(deadline_s, hold)

    def commit(self, accepted: Sequence[int]) -> PoolRoundResult:
        """The summed held updates of the accepted clients (after `train_round(hold=True)`)."""
        updates = UpdateAccumulator()
        for cid in sorted(accepted):
            if cid in self.pending:
                updates.merge(self.pending[cid])
        self.pending = {}
        return PoolRoundResult(updates, [])

    def _compact(self, state: PersonalState) -> PersonalState:
        """Personal weights in the configured storage type (float16 halves them)."""
        if self.personal_dtype == torch.float32:
            return state
        return {part: {k: v.to(self.personal_dtype) if v.is_floating_point() else v
                       for k, v in tensors.items()} for part, tensors in state.items()}

    def _personal(self, client_id: int) -> PersonalState | None:
        state = self.personal.get(client_id)
        if state is None or self.personal_dtype == torch.float32:
            return state
        return {part: {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
                for part, tensors in state.items()}

    def memory_bytes(self) -> dict[str, int]:
        """Bytes this pool keeps per kind of client state (index arrays, personal weights)."""
        index_bytes = sum(a.nbytes for c in self.clients.values()
                          for a in (c.data.id_classes, c.data.train_idx, c.data.test_id_idx,
                                    c.data.test_ood_idx))
        personal_bytes = sum(t.numel() * t.element_size() for state in self.personal.values()
                             for tensors in state.values() for t in tensors.values())
        return {"clients": len(self.clients), "trained_clients": len(self.personal),
                "index_bytes": index_bytes, "personal_bytes": personal_bytes}

    def _batches(self, client: VirtualClient, round_idx: int,
                 device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Seeded shuffled mini-batches of the client's train samples on `device`, for every
        local epoch. The samples cross to the device once and are batched there (a copy per
        batch was two host-to-device transfers per client and step on cuda)."""
        training = self.scenario.training
        idx = client.data.train_idx
        # Fancy indexing copies (writable); the order is drawn on the CPU whatever the device.
        x = torch.from_numpy(self.dataset.train_x[idx]).to(device)
        y = torch.from_numpy(self.dataset.train_y[idx]).to(device)
        generator = torch_generator(self.scenario.seed, "batches", client.client_id, round_idx)
        for _ in range(training.local_epochs):
            order = torch.randperm(len(y), generator=generator).to(device)
            for start in range(0, len(y), training.batch_size):
                chosen = order[start:start + training.batch_size]
                if len(chosen) > 1 or len(y) == 1:  # a lone straggler sample adds only noise
                    yield x[chosen], y[chosen]

    def evaluate(self, client_ids: Sequence[int], global_model: GlobalModel,
                 codecs: Sequence[Codec] = ()) -> list[ClientEvaluation]:
        """Per-sample exit and server predictions on each client's ID + OOD test set, with every
        exit rule's scores calibrated on the client's own training samples; with `codecs`, also
        server predictions on the cut after each codec's encode/decode."""
        algorithm = self.algorithm
        server = algorithm.server_for_inference(global_model)
        results = []
        for cid in sorted(client_ids):
            client = self.clients[cid]
            models = algorithm.client_models(client.arch, global_model, self._personal(cid))
            test_idx = np.concatenate([client.data.test_id_idx, client.data.test_ood_idx])
            x = torch.from_numpy(self.dataset.test_x[test_idx])
            test = self._predict(models, server, x)
            train = None
            if test.exit_logits is not None:  # the exit rules' reference: the training samples
                train = self._predict(models, None,
                                      torch.from_numpy(self.dataset.train_x[client.data.train_idx]))
            by_codec = {} if server is None else {
                codec: torch.cat([algorithm.server_logits_through(  # the cut computed above
                    server, test.cut[start:start + EVAL_BATCH], codec)
                    for start in range(0, len(test_idx), EVAL_BATCH)]).argmax(1).numpy()
                .astype(np.int16) for codec in codecs}
            results.append(client_evaluation(
                client_id=cid, tier=client.tier, arch=client.arch.id,
                labels=self.dataset.test_y[test_idx], n_id=len(client.data.test_id_idx),
                test=test, train=train, train_labels=self.dataset.train_y[client.data.train_idx],
                id_classes=len(client.data.id_classes), server_pred_by_codec=by_codec))
            algorithm.release(models)
        return results

    def _predict(self, models: ClientModels, server: torch.nn.Module | None,
                 x: torch.Tensor) -> Prediction:
        parts = [self.algorithm.predict(models, server, x[start:start + EVAL_BATCH])
                 for start in range(0, len(x), EVAL_BATCH)]
        return Prediction.concat(parts)

    @torch.no_grad()
    def cut_features(self, client_ids: Sequence[int], global_model: GlobalModel,
                     test_idx: np.ndarray) -> list[CutFeatures]:
        """Each client's cut tensors for the same test inputs (the skew probe)."""
        x = torch.from_numpy(self.dataset.test_x[test_idx])
        found = []
        for cid in sorted(client_ids):
            client = self.clients[cid]
            models = self.algorithm.client_models(client.arch, global_model,
                                                  self._personal(cid))
            models.extractor.eval()
            cut = models.extractor(x).flatten(1).numpy().astype(np.float32)
            self.algorithm.release(models)  # (release restores the template's train mode)
            found.append(CutFeatures(cid, client.arch.id, cut))
        return found

    def received_server_messages(self) -> list[ReceivedMessage]:
        """Messages the server side received (only when constructed with recording on)."""
        return list(self.server_messages)
