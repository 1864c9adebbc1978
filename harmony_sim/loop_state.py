"""The round loop's records (metrics rows, participation rows) and the last finished round, so
that a checkpoint written at any moment (every N rounds, at Ctrl-C, when the run fails) is the
consistent state of one finished round."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harmony_sim.results.checkpoint import Checkpoint
from harmony_sim.scenario import Scenario


@dataclass(frozen=True)
class FinishedRound:
    """Set in one assignment once a round is fully recorded: its index, the runtime's state
    after it, and how many metrics rows belong to it."""

    round: int
    runtime: dict[str, Any]
    rows: int


@dataclass
class LoopState:
    rows: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, round 0 first
    tier_rows: list[dict[str, Any]] = field(default_factory=list)  # participation.csv
    client_rows: list[dict[str, Any]] = field(default_factory=list)  # participants.csv
    initial: dict[str, float] = field(default_factory=dict)  # round-0 evaluation
    finished: FinishedRound | None = None
    resumed_from: int | None = None

    @property
    def next_round(self) -> int:
        return 1 if self.finished is None else self.finished.round + 1

    def finish(self, round_idx: int, runtime_state: dict[str, Any]) -> None:
        self.finished = FinishedRound(round_idx, runtime_state, len(self.rows))

    def checkpoint(self, scenario: Scenario) -> Checkpoint | None:
        """The checkpoint of the last finished round (None before round 0 is evaluated)."""
        done = self.finished
        if done is None:
            return None
        loop = {"rows": self.rows[:done.rows],
                "tier_rows": [r for r in self.tier_rows if r["round"] <= done.round],
                "client_rows": [r for r in self.client_rows if r["round"] <= done.round],
                "initial": self.initial}
        return Checkpoint(done.round, scenario.model_dump(mode="json", by_alias=True),
                          done.runtime, loop)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> LoopState:
        loop = checkpoint.loop
        state = cls(list(loop["rows"]), list(loop["tier_rows"]), list(loop["client_rows"]),
                    dict(loop["initial"]),
                    resumed_from=checkpoint.round)
        state.finished = FinishedRound(checkpoint.round, checkpoint.runtime, len(state.rows))
        return state
