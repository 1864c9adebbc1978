"""Which clients take part in a round: a seeded sample of the registered clients."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harmony_sim.scenario import Scenario
from harmony_sim.seeding import numpy_rng


def sample_participants(scenario: Scenario, round_idx: int,
                        eligible: Sequence[int] | None = None) -> list[int]:
    """`clients.per_round` distinct client ids, drawn from the round's own random stream, so the
    cost of a round depends on the participants, not on how many clients exist. `eligible`
    (clients whose device fits an architecture) narrows the draw; None: every client."""
    rng = numpy_rng(scenario.seed, "participants", round_idx)
    if eligible is not None:
        size = min(scenario.clients.per_round, len(eligible))
        return sorted(int(c) for c in rng.choice(np.asarray(eligible), size=size, replace=False))
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
