"""Which clients take part in a round: a seeded sample of the registered clients."""

from __future__ import annotations

from harmony_sim.scenario import Scenario
from harmony_sim.seeding import numpy_rng


def sample_participants(scenario: Scenario, round_idx: int) -> list[int]:
    """`clients.per_round` distinct client ids, drawn from the round's own random stream, so the
    cost of a round depends on the participants, not on how many clients exist."""
    rng = numpy_rng(scenario.seed, "participants", round_idx)
    count = scenario.clients.count
    chosen = rng.choice(count, size=scenario.clients.per_round, replace=False)
    return sorted(int(c) for c in chosen)


def evaluation_clients(scenario: Scenario) -> list[int]:
    """The clients evaluated every time (a fixed seeded subset when evaluation.max_clients)."""
    count = scenario.clients.count
    limit = scenario.evaluation.max_clients
    if limit is None or limit >= count:
        return list(range(count))
    rng = numpy_rng(scenario.seed, "evaluation-clients")
    return sorted(int(c) for c in rng.choice(count, size=limit, replace=False))
