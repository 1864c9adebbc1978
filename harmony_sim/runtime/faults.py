"""What the runtime records about actors that died: one event per death, and per round the
clients whose round was lost to one (re-run or dropped, per `runtime.on_actor_failure`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultEvent:
    """One actor death the runtime recovered from."""

    round: int  # the round in flight (0: the initial evaluation)
    actor: str  # "pool 1", "server"
    phase: str  # "training" or "evaluation"
    action: str  # "rerun", "drop" or "retry" (evaluation)
    clients: int  # participants whose work was lost

    def describe(self) -> str:
        what = {"rerun": "re-ran the round", "drop": f"dropped its {self.clients} participant(s)",
                "retry": "evaluated again"}[self.action]
        return (f"round {self.round}: {self.actor} actor died during {self.phase}; Ray "
                f"restarted it, its clients' state was restored from the last finished round, "
                f"{what}")


@dataclass
class RoundFaults:
    """The deaths during one round's training and the participants they cost."""

    actor_failures: int = 0
    failed_clients: set[int] = field(default_factory=set)  # re-run or dropped
    dropped: set[int] = field(default_factory=set)  # under `drop`: left out of the round


class ActorRestarted(Exception):
    """An actor answered from a new process (Ray restarted it): its state is gone."""
