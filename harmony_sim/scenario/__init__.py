"""Scenario: the typed, validated description of one simulation run."""

from harmony_sim.scenario.loading import load_scenario, scenario_from_dict
from harmony_sim.scenario.schema import Scenario

__all__ = ["Scenario", "load_scenario", "scenario_from_dict"]
