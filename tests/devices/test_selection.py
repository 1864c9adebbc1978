"""Architecture selection: monotone in the budgets, policies, exclusion and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harmony_sim.cli import main
from harmony_sim.data import load_dataset
from harmony_sim.devices import load_profile
from harmony_sim.devices.fitting import Candidate, family_preference, largest_fit
from harmony_sim.errors import UserInputError
from harmony_sim.models import ArchSpec, CutSpec
from harmony_sim.models.context import ModelContext
from harmony_sim.models.cost import arch_cost
from harmony_sim.population import plan_population
from harmony_sim.scenario import Scenario
from tests.conftest import tiny_scenario_dict

CTX = ModelContext((1, 8, 8), 10, CutSpec(16, 2))
WIDTHS = (0.25, 0.5, 1.0, 2.0)
DEPTHS = (1, 2, 3)


def catalogue(family: str = "plain_cnn") -> list[Candidate]:
    return [Candidate(a, arch_cost(a, CTX, 16))
            for a in (ArchSpec(family, w, d) for w in WIDTHS for d in DEPTHS)]


def test_capability_orders_the_plain_cnn_grid() -> None:
    cands = catalogue()
    by = {(c.arch.width, c.arch.depth): c.cost for c in cands}
    for w in WIDTHS:  # deeper is more capable at a fixed width, wider at a fixed depth
        assert by[(w, 1)].capability < by[(w, 2)].capability < by[(w, 3)].capability
    for d in DEPTHS:
        assert [by[(w, d)].capability for w in WIDTHS] == sorted(by[(w, d)].capability
                                                                  for w in WIDTHS)


def test_largest_fit_is_monotone_in_latency_and_memory() -> None:
    cands = catalogue()
    base = load_profile("raspberry_pi_4")
    previous = None
    for budget in [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, None]:
        pick = largest_fit(cands, base, budget)
        if previous is not None:
            assert pick is not None and pick.rank >= previous.rank, budget
        previous = pick or previous
    previous = None
    for memory_mb in [0.5, 1, 2, 3, 4, 6, 8, 16, 64]:
        profile = base.model_copy(update={"memory_mb": memory_mb})
        pick = largest_fit(cands, profile, None)
        if previous is not None:
            assert pick is not None and pick.rank >= previous.rank, memory_mb
        previous = pick or previous
    assert previous is not None and previous.arch == ArchSpec("plain_cnn", 2.0, 3)


def test_faster_device_never_gets_a_smaller_model() -> None:
    cands = catalogue()
    profiles = sorted((load_profile(n) for n in ["raspberry_pi_4", "pixel_6a", "jetson_nano",
                                                  "jetson_orin_nano"]),
                      key=lambda p: p.compute_gflops)
    picks = [largest_fit(cands, p, 2.0) for p in profiles]
    ranks = [p.rank for p in picks if p is not None]
    assert ranks == sorted(ranks) and len(ranks) == len(profiles)


def test_family_preference_falls_back_to_the_next_family() -> None:
    cands = catalogue()
    profile = load_profile("pixel_6a")
    assert family_preference(cands, ["no_such_family", "plain_cnn"], profile, 5.0) == \
        largest_fit(cands, profile, 5.0)
    assert family_preference(cands, ["no_such_family"], profile, 5.0) is None


def three_tiers(**selection: object) -> dict:
    return tiny_scenario_dict(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "low", "share": 1, "profile": "raspberry_pi_4"},
        {"name": "mid", "share": 1, "profile": "pixel_6a"},
        {"name": "high", "share": 1, "profile": "jetson_orin_nano"}],
        "selection": {"policy": "largest_fit", "host_profile": "laptop_i5_1135g7",
                      **selection}})


def test_three_tiers_get_three_architectures(tiny_scenario: Callable[..., Scenario]) -> None:
    scenario = tiny_scenario(clients=three_tiers(latency_budget_ms=3.0)["clients"])
    population = plan_population(scenario, load_dataset(scenario.data, scenario.seed))
    archs = [t.arch for t in population.tiers]
    assert len(set(archs)) == 3 and None not in archs
    ranks = [t.cost.capability for t in population.tiers]  # type: ignore[union-attr]
    assert ranks == sorted(ranks)  # low < mid < high
    scales = {c.tier: c.time_scale for c in population.clients}
    assert population.host_gflops == 120.0
    assert scales["low"] == pytest.approx(120.0 / 6.24)
    assert all(c.threads == 1 for c in population.clients)  # bounded by threads_per_actor


def test_a_device_that_fits_nothing_is_excluded_with_its_reason(
        tiny_scenario: Callable[..., Scenario]) -> None:
    scenario = tiny_scenario(clients=three_tiers(latency_budget_ms=0.3)["clients"])
    population = plan_population(scenario, load_dataset(scenario.data, scenario.seed))
    low = population.tiers[0]
    assert low.arch is None and "raspberry_pi_4" in low.reason and "budget 0.3 ms" in low.reason
    assert {e["tier"] for e in population.excluded} == {"low"}
    assert all(c.tier != "low" for c in population.clients)


def test_on_no_fit_error_is_one_line_exit_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(three_tiers(latency_budget_ms=0.3, on_no_fit="error")))
    assert main([str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tier 'low'" in err[0] and "on_no_fit" in err[0]


def test_fixed_arch_is_checked_against_memory(tiny_scenario: Callable[..., Scenario],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import harmony_sim.population as population

    original = population.tier_profile

    def one_mb(tier):  # type: ignore[no-untyped-def]
        profile = original(tier)
        return None if profile is None else profile.model_copy(update={"memory_mb": 1.0})

    monkeypatch.setattr(population, "tier_profile", one_mb)
    clients = three_tiers(on_no_fit="error")["clients"]
    clients["tiers"][0]["arch"] = {"family": "plain_cnn", "width": 1.0, "depth": 2}
    scenario = tiny_scenario(clients=clients)
    with pytest.raises(UserInputError, match="tier 'low'.*needs .* MB to train at batch 16"):
        plan_population(scenario, load_dataset(scenario.data, scenario.seed))


def test_unknown_selection_family_is_one_line(tiny_scenario: Callable[..., Scenario]) -> None:
    with pytest.raises(UserInputError, match="clients.selection.families.0: unknown model"):
        tiny_scenario(clients={"count": 6, "per_round": 6,
                               "selection": {"families": ["vit"]}})


def test_without_profiles_nothing_changes(tiny_scenario: Callable[..., Scenario]) -> None:
    scenario = tiny_scenario()
    population = plan_population(scenario, load_dataset(scenario.data, scenario.seed))
    assert population.host_gflops is None and population.excluded == []
    assert {c.arch for c in population.clients} == {ArchSpec("plain_cnn", 0.5, 1)}
    assert all(c.time_scale == 1.0 and c.threads is None for c in population.clients)


def test_pool_memory_request_is_the_largest_client(tiny_scenario: Callable[..., Scenario]) -> None:
    from harmony_sim.runtime.backends import pool_memory

    scenario = tiny_scenario(clients=three_tiers(latency_budget_ms=3.0)["clients"])
    clients = plan_population(scenario, load_dataset(scenario.data, scenario.seed)).clients
    assert pool_memory(clients) == {"memory": max(c.memory_bytes for c in clients)}
    assert pool_memory([]) == {}
