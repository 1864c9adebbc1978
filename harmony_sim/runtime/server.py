"""The server: holds the global state (back end and client-side global weights), trains the back
end in lockstep with the clients (one step over every participant's cut tensors at a time) and
merges the pools' summed client updates after each round."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from torch import Tensor

from harmony_sim.aggregation import UpdateAccumulator
from harmony_sim.algorithms import GlobalModel, create_algorithm
from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.split_protocol import CutUpload, ReceivedMessage
from harmony_sim.data import Dataset
from harmony_sim.models import ArchSpec
from harmony_sim.round_report import ClientRoundReport
from harmony_sim.runtime.client_pool import PoolRoundResult
from harmony_sim.scenario import Scenario


class StepProtocol(Enum):
    """How the runtime drives a round's steps."""

    IN_POOLS = "in_pools"  # pools train alone: replica scheme, or no server at all
    SHARED_LABELS = "shared_labels"  # pools upload cuts + labels; the server answers gradients
    PRIVATE_LABELS = "private_labels"  # server -> logits, pools -> dL/dlogits, server -> grads


class Server:
    """Plain class (a Ray actor via runtime.backends, or used in-process). Methods that answer
    several pools return one value per pool (the value itself for one pool: Ray's num_returns
    convention), each holding only that pool's clients."""

    def __init__(self, scenario: Scenario, dataset: Dataset, archs: Iterable[ArchSpec],
                 record_messages: bool = False) -> None:
        self.algorithm = create_algorithm(scenario.algorithm,
                                          RunContext.of(scenario, dataset, archs))
        self.model = self.algorithm.init_global(archs)
        lockstep = scenario.server.training == "lockstep" and self.algorithm.uses_server
        self.trainer = self.algorithm.server_trainer(self.model) if lockstep else None
        if self.trainer is not None:
            self.trainer.record = record_messages
        self._layout: list[list[int]] = []  # client ids per pool of the step in flight
        self._record = record_messages
        self.instance = uuid.uuid4().hex  # changes when Ray restarts the actor

    def protocol(self) -> StepProtocol:
        if self.trainer is None:
            return StepProtocol.IN_POOLS
        if self.algorithm.private_labels:
            return StepProtocol.PRIVATE_LABELS
        return StepProtocol.SHARED_LABELS

    def global_model(self) -> GlobalModel:
        return self.model

    def instance_id(self) -> str:
        return self.instance

    # ---- state for checkpoints and recovery ----------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Plain containers and tensors (copies): the global model with its round counter and
        extras, and the lockstep trainer's optimiser state and counters."""
        model = self.model
        state: dict[str, Any] = {
            "instance": self.instance,
            "model": {"components": copy.deepcopy(model.components), "round": model.round,
                      "extras": copy.deepcopy(model.extras)},
            "optimizer": None, "counters": None}
        if self.trainer is not None:
            # On the host: the driver that keeps it may have no GPU (load_state_dict moves the
            # buffers back to the parameters' device).
            state["optimizer"] = _on_host(self.trainer.optimizer.state_dict())
            state["counters"] = {"samples_seen": self.trainer.samples_seen,
                                 "contrastive_sum": self.trainer.contrastive_sum}
        return state

    def restore_state(self, state: Mapping[str, Any]) -> str:
        """Continue from `export_state()`: the trainer is rebuilt from the global model (its
        modules equal the model's server components after every aggregation; HARMONY's queue
        comes from the model's extras) and gets the saved optimiser state. This instance's id."""
        saved = state["model"]
        self.model = GlobalModel(copy.deepcopy(dict(saved["components"])), int(saved["round"]),
                                 copy.deepcopy(dict(saved["extras"])))
        self._layout = []
        if self.trainer is not None:
            self.trainer = self.algorithm.server_trainer(self.model)
            assert self.trainer is not None
            self.trainer.record = self._record
            if state.get("optimizer") is not None:
                self.trainer.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
            counters = state.get("counters") or {}
            self.trainer.samples_seen = int(counters.get("samples_seen", 0))
            self.trainer.contrastive_sum = float(counters.get("contrastive_sum", 0.0))
        return self.instance

    # ---- lockstep training: one step over every pool's uploads --------------------------------
    def step(self, *pool_uploads: list[CutUpload]) -> Any:
        """Shared labels: one optimiser step; each pool's clients' gradients."""
        self._layout = [[u.client_id for u in uploads] for uploads in pool_uploads]
        uploads = [u for part in pool_uploads for u in part]
        assert self.trainer is not None
        return self._per_pool(self.trainer.step(uploads) if uploads else {})

    def forward(self, *pool_uploads: list[CutUpload]) -> Any:
        """Private labels, first half: each pool's clients' logits."""
        self._layout = [[u.client_id for u in uploads] for uploads in pool_uploads]
        uploads = [u for part in pool_uploads for u in part]
        assert self.trainer is not None
        return self._per_pool(self.trainer.forward(uploads) if uploads else {})

    def backward(self, *pool_logit_grads: Mapping[int, Tensor]) -> Any:
        """Private labels, second half: one optimiser step; each pool's clients' gradients."""
        grads = {cid: g for part in pool_logit_grads for cid, g in part.items()}
        assert self.trainer is not None
        return self._per_pool(self.trainer.backward(grads) if grads else {})

    def _per_pool(self, answers: Mapping[int, Any]) -> Any:
        parts = [{cid: answers[cid] for cid in ids} for ids in self._layout]
        return parts[0] if len(parts) == 1 else parts

    def received_messages(self) -> list[ReceivedMessage]:
        """What the lockstep back end received (recorded only when asked for at start)."""
        return [] if self.trainer is None else list(self.trainer.received)

    # ---- after the round -------------------------------------------------------------------
    def aggregate(self, *pool_results: PoolRoundResult) -> list[ClientRoundReport]:
        """Merge every pool's sums into the new global model; return the clients' reports."""
        merged = UpdateAccumulator()
        reports: list[ClientRoundReport] = []
        for result in pool_results:
            merged.merge(result.updates)
            reports.extend(result.reports)
        self.model = self.algorithm.aggregate(self.model, merged)
        if self.trainer is not None:
            self.algorithm.absorb_server(self.model, self.trainer)
        return sorted(reports, key=lambda r: r.client_id)


def _on_host(value: Any) -> Any:
    """A copy of nested containers with every tensor on the CPU."""
    if isinstance(value, Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _on_host(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_on_host(v) for v in value)
    return copy.deepcopy(value)
