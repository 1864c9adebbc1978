"""The `algorithm` section: one config class per algorithm, chosen by name; presets; switching
algorithm with --set."""

from __future__ import annotations

import pytest

from harmony_sim.algorithms import ALGORITHMS
from harmony_sim.errors import UserInputError
from harmony_sim.scenario.algorithm_configs import (
    FedAvgConfig,
    HarmonyConfig,
    SplitGPConfig,
    algorithm_names,
)
from harmony_sim.scenario.loading import load_scenario, scenario_from_dict


def test_every_schema_name_has_an_algorithm_and_back() -> None:
    assert sorted(algorithm_names()) == ALGORITHMS.names()


def test_a_section_holds_only_its_algorithms_knobs() -> None:
    assert isinstance(scenario_from_dict({}).algorithm, SplitGPConfig)  # the default
    assert isinstance(scenario_from_dict({"algorithm": {"gamma": 0.3}}).algorithm, SplitGPConfig)
    with pytest.raises(UserInputError, match=r"algorithm\.tau: unknown field; allowed here: "
                                             r"name, gamma, personal"):
        scenario_from_dict({"algorithm": {"name": "splitgp", "tau": 0.2}})
    with pytest.raises(UserInputError, match=r"algorithm\.tau: Input should be greater than 0"):
        scenario_from_dict({"algorithm": {"name": "harmony", "tau": -1}})
    with pytest.raises(UserInputError, match=r"algorithm\.name: unknown algorithm 'fedprox'; "
                                             r"choose one of: splitgp, .*harmony_no_meta"):
        scenario_from_dict({"algorithm": {"name": "fedprox"}})


def test_ablations_are_presets_of_harmony() -> None:
    config = scenario_from_dict({"algorithm": {"name": "harmony_no_meta", "tau": 0.2}}).algorithm
    assert isinstance(config, HarmonyConfig)
    assert (config.meta, config.tau, config.contrastive) == (False, 0.2, True)
    with pytest.raises(UserInputError, match="harmony_no_meta is HARMONY with meta=False"):
        scenario_from_dict({"algorithm": {"name": "harmony_no_meta", "meta": True}})


def test_set_algorithm_name_switches_the_section(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="harmony_sim"):
        switched = load_scenario("scenarios/heterogeneous-tiers.yaml", ["algorithm.name=fedavg"])
    assert isinstance(switched.algorithm, FedAvgConfig)
    assert "left out the knobs it does not have" in caplog.text
    kept = load_scenario("scenarios/heterogeneous-tiers.yaml",
                         ["algorithm.name=splitgp", "algorithm.gamma=0.25"])
    assert isinstance(kept.algorithm, SplitGPConfig) and kept.algorithm.gamma == 0.25
    preset = load_scenario("scenarios/heterogeneous-tiers.yaml",
                           ["algorithm.name=harmony_frozen_simulated"])
    assert preset.algorithm.train_simulated is False
    back = load_scenario("scenarios/heterogeneous-tiers.yaml",
                         ["algorithm.name=harmony_no_meta", "algorithm.name=harmony"])
    assert back.algorithm.meta is True  # the preset's flag went with its name
