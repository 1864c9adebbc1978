"""Scenario: the typed, validated description of one simulation run (schema.py). Reading a YAML
file with overrides is harmony_sim.scenario.loading (it checks names against the registries, so
it sits above the data and model packages)."""

from harmony_sim.scenario.schema import Scenario

__all__ = ["Scenario"]
