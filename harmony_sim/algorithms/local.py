"""Local training: extractor + exit head on the device, nothing shared, no server fallback."""

from __future__ import annotations

from harmony_sim.aggregation import StateDict, UpdateAccumulator
from harmony_sim.algorithms.base import Algorithm
from harmony_sim.algorithms.records import ClientModels, GlobalModel, PersonalState
from harmony_sim.algorithms.registry import ALGORITHMS


@ALGORITHMS.register("local")
class LocalOnly(Algorithm):
    name = "local"
    uses_server = False

    def personal_share(self, part: str) -> float:
        return 1.0  # every part is the client's own, round after round

    def _personalise(self, shared: StateDict, personal: PersonalState | None,
                     part: str) -> StateDict:
        # The global state is only the common seeded initialisation; a trained client keeps
        # its own weights untouched.
        return shared if personal is None or part not in personal else personal[part]

    def contribute(self, models: ClientModels, weight: float, global_model: GlobalModel,
                   updates: UpdateAccumulator) -> None:
        """Nothing leaves the device."""
