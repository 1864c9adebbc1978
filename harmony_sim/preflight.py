"""Checks of a scenario's external inputs (device profiles, trace CSV, Ray address) that run
before anything is written, each failing with one line that names the field."""

from __future__ import annotations

from collections.abc import Callable

from harmony_sim.devices import resolve_profile
from harmony_sim.errors import UserInputError
from harmony_sim.inference.profiles import load_inference_profiles
from harmony_sim.participation import read_trace
from harmony_sim.runtime.backends import check_reachable
from harmony_sim.scenario import Scenario


def check_inputs(scenario: Scenario, source: str) -> None:
    """Raise UserInputError (prefixed with `source` and the field) on the first bad input."""
    def named(field: str | None, load: Callable[[], object]) -> None:
        try:
            load()
        except UserInputError as exc:
            message = str(exc)
            prefix = "" if field is None or message.startswith(field) else f"{field}: "
            raise UserInputError(f"{source}: {prefix}{message}") from None

    for i, tier in enumerate(scenario.clients.tiers):
        if tier.profile is not None:
            named(f"clients.tiers.{i}.profile", lambda ref=tier.profile: resolve_profile(ref))
    host = scenario.clients.selection.host_profile
    if host is not None:
        named("clients.selection.host_profile", lambda: resolve_profile(host))
    if scenario.participation.trace is not None:
        named("participation.trace", lambda: read_trace(scenario.participation.trace))
    if scenario.inference.enabled and scenario.inference.server.profile is not None:
        named("inference.server.profile",
              lambda: resolve_profile(scenario.inference.server.profile))
    named(None, lambda: load_inference_profiles(scenario))  # its messages name the field
    if scenario.runtime.backend == "ray" and scenario.runtime.address:
        named("runtime.address", lambda: check_reachable(scenario.runtime.address))
