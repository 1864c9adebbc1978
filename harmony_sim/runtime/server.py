"""The server: holds the global state (back end and client-side global weights) and merges the
pools' summed updates after each round."""

from __future__ import annotations

from collections.abc import Iterable

from harmony_sim.aggregation import UpdateAccumulator
from harmony_sim.algorithms import GlobalModel, create_algorithm
from harmony_sim.data import Dataset
from harmony_sim.models import ArchSpec
from harmony_sim.runtime.client_pool import ClientRoundReport, PoolRoundResult, model_context
from harmony_sim.scenario import Scenario


class Server:
    """Plain class (a Ray actor via runtime.backends, or used in-process)."""

    def __init__(self, scenario: Scenario, dataset: Dataset, archs: Iterable[ArchSpec]) -> None:
        self.algorithm = create_algorithm(scenario, model_context(scenario, dataset))
        self.model = self.algorithm.init_global(archs)

    def global_model(self) -> GlobalModel:
        return self.model

    def aggregate(self, *pool_results: PoolRoundResult) -> list[ClientRoundReport]:
        """Merge every pool's sums into the new global model; return the clients' reports."""
        merged = UpdateAccumulator()
        reports: list[ClientRoundReport] = []
        for result in pool_results:
            merged.merge(result.updates)
            reports.extend(result.reports)
        self.model = self.algorithm.aggregate(self.model, merged)
        return sorted(reports, key=lambda r: r.client_id)
