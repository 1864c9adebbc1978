"""What RayRuntime needs beyond `ray.remote(...)`: actor classes whose constructor arguments
are references the driver keeps (so Ray can restart them) and whose step messages carry only
their own tensors; a watch on Ray's own actor table (state, restart count) that notices a death
within a poll interval instead of when the round's last call fails; and a log filter for the
errors of calls that the recovery re-runs."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import Tensor

from harmony_sim.algorithms.split_protocol import CutGradient, CutUpload
from harmony_sim.models import ArchSpec
from harmony_sim.runtime.client_pool import ClientPool
from harmony_sim.runtime.server import Server
from harmony_sim.scenario import Scenario

POLL_S = 0.5


class RayPool(ClientPool):
    """A ClientPool whose dataset and clients arrive as object references inside a list: Ray
    passes them on unresolved and the driver keeps them referenced, so when Ray restarts a
    crashed pool its constructor finds them in the object store (ray-project/ray#53727: store-
    held constructor arguments can otherwise be gone by then)."""

    def __init__(self, scenario: Scenario, shipped: list[Any],
                 architectures: Iterable[ArchSpec], threads: int = 1) -> None:
        import ray

        dataset, clients = ray.get(shipped)
        super().__init__(scenario, dataset, clients, architectures, threads)

    def upload_step(self) -> list[CutUpload]:
        return [dataclasses.replace(u, cut=own(u.cut), labels=own(u.labels))
                for u in super().upload_step()]


class RayServer(Server):
    def __init__(self, scenario: Scenario, shipped: list[Any], archs: Any) -> None:
        import ray

        super().__init__(scenario, ray.get(shipped[0]), archs)

    def _per_pool(self, answers: Mapping[int, Any]) -> Any:
        return super()._per_pool({cid: _own_answer(a) for cid, a in answers.items()})


def own(tensor: Tensor | None) -> Tensor | None:
    """The tensor as a message carries it: a view (one client's rows of a stacked call, one
    client's logits of the step) is copied out, since pickling a view carries its whole
    storage, once to every actor it is sent to. In-process runtimes keep the views."""
    if tensor is None or tensor.untyped_storage().nbytes() == tensor.nbytes:
        return tensor
    return tensor.clone()


def _own_answer(answer: Any) -> Any:
    if isinstance(answer, CutGradient):
        return dataclasses.replace(answer, grad=own(answer.grad), simulated=own(answer.simulated))
    return own(answer) if isinstance(answer, Tensor) else answer


class ActorWatch:
    """The GCS actor table's view of some actors. A death shows as RESTARTING (then a higher
    restart count) or DEAD at once, while calls queued behind it may take long to fail."""

    def __init__(self, actors: Sequence[Any]) -> None:
        self.ids = [actor._actor_id.hex() for actor in actors]
        self.baseline = self._restarts()

    def _rows(self) -> list[dict[str, Any]] | None:
        try:
            from ray._private.state import actors

            return [actors(actor_id=actor_id) for actor_id in self.ids]
        except Exception:  # noqa: BLE001  (a debugging API: without it, calls' errors still tell)
            return None

    def _restarts(self) -> list[int] | None:
        rows = self._rows()
        return None if rows is None else [int(r.get("NumRestarts", 0)) for r in rows]

    def changed(self) -> bool:
        """Whether an actor is restarting, dead or was restarted since the baseline (one still
        being created, at start-up, is not a change)."""
        rows = self._rows()
        if rows is None or self.baseline is None:
            return False
        return any(r.get("State") in ("RESTARTING", "DEAD") or int(r.get("NumRestarts", 0)) != base
                   for r, base in zip(rows, self.baseline, strict=True))

    def states(self) -> list[str] | None:
        rows = self._rows()
        return None if rows is None else [str(r.get("State")) for r in rows]

    def rebase(self) -> None:
        self.baseline = self._restarts()


class RecoveredErrors(logging.Filter):
    """Drops Ray's 'Unhandled error' lines for calls that failed because an actor died: the
    runtime recovers from those and re-runs the round."""

    MARKERS = ("ActorDiedError", "ActorUnavailableError", "RayActorError")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Unhandled error")
                    and any(m in message for m in self.MARKERS))


def quiet_recovered_errors() -> None:
    logger = logging.getLogger("ray._private.worker")
    if not any(isinstance(f, RecoveredErrors) for f in logger.filters):
        logger.addFilter(RecoveredErrors())
