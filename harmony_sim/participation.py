"""Who takes part in a round and whose update counts: availability, dropout, deadline and
over-selection, with per-round, per-tier counts of selected, finished, dropped and straggled.

Every draw is per (round, client) from a named seeded stream, so a client's fate does not depend
on which other clients exist, and a round only looks at the clients it considers."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harmony_sim.devices import resolve_profile
from harmony_sim.errors import UserInputError
from harmony_sim.round_report import ClientRoundReport, client_round_time
from harmony_sim.scenario import Scenario
from harmony_sim.seeding import numpy_rng
from harmony_sim.selection import sample_participants

OUTCOMES = ("finished", "dropped", "straggled")
COUNT_COLUMNS = ("selected", *OUTCOMES)


def read_trace(path: Path) -> dict[tuple[int, int], bool]:
    """(round, client_id) -> online, from a CSV with a header `round,client_id,online`."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"round", "client_id", "online"} - set(reader.fieldnames or [])
            if missing:
                raise UserInputError(f"participation.trace: {path} lacks column(s) "
                                     f"{', '.join(sorted(missing))}; the header must be "
                                     "round,client_id,online")
            trace = {}
            for line, row in enumerate(reader, start=2):
                try:
                    key = (int(row["round"]), int(row["client_id"]))
                    trace[key] = bool(int(row["online"]))
                except (TypeError, ValueError):
                    raise UserInputError(f"participation.trace: {path} line {line}: expected "
                                         "integers (online is 0 or 1)") from None
    except OSError as exc:
        raise UserInputError(f"participation.trace: cannot read {path} ({exc.strerror}); "
                             "fix the path") from None
    return trace


def tier_availability(scenario: Scenario) -> dict[str, float]:
    """Per-tier probability of being online: the scenario's value, else the tier's profile's."""
    fixed = scenario.participation.availability
    result = {"default": 1.0 if fixed is None else fixed}
    for tier in scenario.clients.tiers:
        if fixed is not None:
            result[tier.name] = fixed
        elif tier.profile is not None:
            result[tier.name] = resolve_profile(tier.profile).availability
        else:
            result[tier.name] = 1.0
    return result


@dataclass(frozen=True)
class RoundPlan:
    """The clients selected for a round and those of them that will drop out mid-round."""

    round: int
    selected: tuple[int, ...]
    dropped: frozenset[int]

    @property
    def training(self) -> list[int]:
        return [c for c in self.selected if c not in self.dropped]


@dataclass(frozen=True)
class RoundOutcome:
    """Each selected client's outcome, the accepted (aggregated) clients and the round time."""

    outcome: dict[int, str]
    time_s: dict[int, float]
    round_time_s: float

    @property
    def accepted(self) -> set[int]:
        return {c for c, o in self.outcome.items() if o == "finished"}


class Participation:
    """Plans rounds and closes them, for one scenario and its clients' tiers."""

    def __init__(self, scenario: Scenario, client_tiers: Mapping[int, str] | Sequence[str],
                 eligible: Collection[int] | None = None) -> None:
        """`client_tiers[client_id]` is each client's tier; `eligible` (None: every client)
        leaves out devices that fit no architecture: they are never selected."""
        config = scenario.participation
        self.scenario = scenario
        self.config = config
        self.client_tiers = client_tiers
        self.eligible = None if eligible is None else frozenset(eligible)
        self.availability = tier_availability(scenario)
        self.trace = read_trace(config.trace) if config.trace is not None else {}
        self.count = scenario.clients.count
        self.per_round = scenario.clients.per_round
        self.target = min(self.count, math.ceil(self.per_round * (1.0 + config.over_selection)))
        self.everyone_online = not self.trace and all(p >= 1.0 for p in self.availability.values())

    @property
    def holds_updates(self) -> bool:
        """Whether pools must hold updates until the round closes (over-selection keeps only the
        first per_round reports, which no single pool can tell)."""
        return self.target > self.per_round

    def is_online(self, client_id: int, round_idx: int) -> bool:
        listed = self.trace.get((round_idx, client_id))
        if listed is not None:
            return listed
        p = self.availability[self.client_tiers[client_id]]
        return p >= 1.0 or bool(numpy_rng(self.scenario.seed, "availability", round_idx,
                                          client_id).random() < p)

    def drops_out(self, client_id: int, round_idx: int) -> bool:
        p = self.config.dropout
        return p > 0.0 and bool(numpy_rng(self.scenario.seed, "dropout", round_idx,
                                          client_id).random() < p)

    def plan_round(self, round_idx: int) -> RoundPlan:
        """Select `target` online clients (fewer if not enough are online) and draw dropouts."""
        if self.everyone_online and self.target == self.per_round:
            selected = sample_participants(  # the default stream
                self.scenario, round_idx, None if self.eligible is None else sorted(self.eligible))
        else:
            selected = []
            for cid in candidate_order(self.scenario.seed, round_idx, self.count, self.target):
                if (self.eligible is None or cid in self.eligible) and self.is_online(cid,
                                                                                     round_idx):
                    selected.append(cid)
                    if len(selected) == self.target:
                        break
            selected.sort()
        dropped = frozenset(c for c in selected if self.drops_out(c, round_idx))
        return RoundPlan(round_idx, tuple(selected), dropped)

    def accept(self, reports: Sequence[ClientRoundReport]) -> set[int]:
        """The reports that count: within the deadline, the first per_round by simulated time."""
        deadline = self.config.deadline_s
        timed = sorted((client_round_time(r), r.client_id) for r in reports)
        in_time = [cid for t, cid in timed if deadline is None or t <= deadline]
        return set(in_time[:self.per_round])

    def close_round(self, plan: RoundPlan,
                    reports: Sequence[ClientRoundReport]) -> RoundOutcome:
        """Each selected client's outcome; round time = slowest accepted client."""
        accepted = self.accept(reports)
        times = {r.client_id: client_round_time(r) for r in reports}
        outcome = {c: "dropped" for c in plan.dropped}
        for cid in times:
            outcome[cid] = "finished" if cid in accepted else "straggled"
        round_time = max((times[c] for c in accepted), default=0.0)
        return RoundOutcome(outcome, times, round_time)

    def tier_counts(self, plan: RoundPlan, outcome: RoundOutcome) -> dict[str, dict[str, int]]:
        """{tier: {selected, finished, dropped, straggled}} for the round (tiers with no
        selected client are left out)."""
        counts: dict[str, Counter[str]] = {}
        for cid in plan.selected:
            tally = counts.setdefault(self.client_tiers[cid], Counter())
            tally["selected"] += 1
            tally[outcome.outcome[cid]] += 1
        return {tier: {k: tally[k] for k in COUNT_COLUMNS}
                for tier, tally in sorted(counts.items())}


def candidate_order(seed: int, round_idx: int, count: int, needed: int) -> Iterator[int]:
    """Distinct client ids in a seeded random order. Draws ids one chunk at a time and skips
    repeats, so a round costs O(clients considered), not O(registered clients); when most clients
    are needed a full permutation is as cheap."""
    rng = numpy_rng(seed, "candidates", round_idx)
    if needed * 4 >= count:
        yield from (int(c) for c in rng.permutation(count))
        return
    seen: set[int] = set()
    while len(seen) < count // 2:
        for c in rng.integers(0, count, size=max(needed, 16)):
            c = int(c)
            if c not in seen:
                seen.add(c)
                yield c
    # Few clients online: the rest of the population, in random order.
    rest = np.setdiff1d(np.arange(count), np.fromiter(seen, dtype=np.int64))
    yield from (int(c) for c in rng.permutation(rest))


def round_counts(per_tier: Mapping[str, Mapping[str, int]],
                 outcome: RoundOutcome) -> dict[str, Any]:
    """Round totals for metrics.jsonl / rounds.csv."""
    totals = {k: sum(t[k] for t in per_tier.values()) for k in COUNT_COLUMNS}
    return {**totals, "round_time_s": outcome.round_time_s}


def tier_totals(tier_rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per-tier sums over all rounds of the per-round, per-tier counts."""
    totals: dict[str, dict[str, int]] = {}
    for row in tier_rows:
        tally = totals.setdefault(str(row["tier"]), dict.fromkeys(COUNT_COLUMNS, 0))
        for key in COUNT_COLUMNS:
            tally[key] += int(row[key])
    return dict(sorted(totals.items()))
