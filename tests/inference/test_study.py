"""The latency study end to end on the tiny scenario: files, sweeps, SLO choice."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from harmony_sim.devices import DeviceProfile
from harmony_sim.devices.catalog import PROFILES_ENV
from harmony_sim.results import RunDirectory
from harmony_sim.results.run_directory import (
    LATENCY_CDF_PLOT,
    LATENCY_PARETO_PLOT,
    LATENCY_SLO_FILE,
    LATENCY_STUDY_FILE,
    SERVER_LOAD_FILE,
    SERVER_LOAD_PLOT,
    SUMMARY_FILE,
)
from harmony_sim.simulation import run_simulation

PROFILES = [
    DeviceProfile(name="study_slow_board", tier="low", compute_gflops=2.0, cpu_cores=4,
                  memory_mb=1024, uplink_mbps=2.0, downlink_mbps=8.0, rtt_ms=80.0,
                  jitter_ms=10.0),
    DeviceProfile(name="study_fast_phone", tier="high", compute_gflops=50.0, cpu_cores=8,
                  memory_mb=4096, uplink_mbps=40.0, downlink_mbps=100.0, rtt_ms=20.0,
                  jitter_ms=2.0),
]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def profile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    for p in PROFILES:
        (folder / f"{p.name}.yaml").write_text(yaml.safe_dump(p.model_dump()))
    monkeypatch.setenv(PROFILES_ENV, str(folder))
    yield folder


def test_latency_study_writes_sweeps_load_and_slo(tiny_scenario, profile_dir: Path,  # noqa: ANN001
                                                  tmp_path: Path) -> None:
    scenario = tiny_scenario(
        clients={"count": 6, "per_round": 6, "tiers": [
            {"name": "low", "share": 1, "profile": "study_slow_board"},
            {"name": "high", "share": 1, "profile": "study_fast_phone",
             "arch": {"family": "plain_cnn", "width": 1.0, "depth": 1}}]},
        network={"conditions": ["profile", "3g"]},
        inference={"enabled": True, "thresholds": [0.0, 0.3, 0.6, 1.0],
                   "codecs": ["fp32", "int8"], "request_rate_hz": 2.0, "duration_s": 20.0,
                   "sources": 30, "load_clients": [10, 100, 400], "slo_p95_ms": 60.0,
                   "server": {"workers": 1, "speedup": 0.05}},
        output={"plots": True})
    run_dir = RunDirectory.create(tmp_path / "run")
    summary = run_simulation(scenario, run_dir, show_progress=False)

    study = read_csv(run_dir.file(LATENCY_STUDY_FILE))
    assert len(study) == 2 * 2 * 4 * 3  # conditions x codecs x thresholds x (2 tiers + all)
    for row in study:
        if row["tier"] != "all":
            assert float(row["p50_ms"]) <= float(row["p95_ms"]) <= float(row["p99_ms"])
    def p95(cond: str, codec: str, th: str, tier: str) -> float:
        (row,) = [r for r in study if (r["condition"], r["codec"], r["threshold"], r["tier"])
                  == (cond, codec, th, tier)]
        return float(row["p95_ms"])
    # Threshold 1.0: nothing falls back; 0.0: (almost) everything does, over the link.
    assert p95("profile", "fp32", "1", "low") < p95("profile", "fp32", "0", "low")
    assert p95("3g", "fp32", "0", "low") > p95("profile", "fp32", "0", "low")
    assert p95("3g", "int8", "0", "high") < p95("3g", "fp32", "0", "high")  # 4x fewer bytes

    load = [r for r in read_csv(run_dir.file(SERVER_LOAD_FILE)) if r["tier"] == "all"]
    assert [int(r["clients"]) for r in load] == [10, 100, 400]
    util = [float(r["utilisation"]) for r in load]
    queue = [float(r["queue_ms"]) for r in load]
    assert util == sorted(util) and queue == sorted(queue)

    slo = read_csv(run_dir.file(LATENCY_SLO_FILE))
    assert {r["tier"] for r in slo} == {"low", "high", "all"}
    for row in slo:
        if row["tier"] != "all":
            assert row["met"] == str(float(row["p95_ms"]) <= 60.0)
    for name in (LATENCY_PARETO_PLOT, SERVER_LOAD_PLOT, LATENCY_CDF_PLOT):
        assert run_dir.file(name).stat().st_size > 10_000
    saved = json.loads(run_dir.file(SUMMARY_FILE).read_text())
    assert saved["inference"]["workers"] == 1
    assert set(summary["inference"]["device_ms"]) == {"low", "high"}
    # The slow board computes 25x slower than the phone (same architecture family).
    assert summary["inference"]["device_ms"]["low"] > summary["inference"]["device_ms"]["high"]


def test_study_needs_a_profile_per_tier(tiny_scenario, tmp_path: Path) -> None:  # noqa: ANN001
    from harmony_sim.errors import UserInputError

    scenario = tiny_scenario(clients={"count": 6, "per_round": 6,
                                      "tiers": [{"name": "low", "share": 1}]},
                             inference={"enabled": True})
    with pytest.raises(UserInputError, match=r"clients.tiers.0.profile"):
        run_simulation(scenario, RunDirectory.create(tmp_path / "run"), show_progress=False)


def test_pareto_rows_keep_only_undominated_points() -> None:
    from harmony_sim.results.latency_plots import pareto_rows

    points = [(3.0, 0.6, "a"), (1.0, 0.5, "b"), (2.0, 0.4, "c"), (3.0, 0.7, "d"),
              (5.0, 0.7, "e"), (8.0, 0.9, "f")]
    assert pareto_rows(points) == [(1.0, 0.5, "b"), (3.0, 0.7, "d"), (8.0, 0.9, "f")]


def test_a_tier_without_evaluated_clients_is_a_clear_error(tiny_scenario, profile_dir: Path,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    from harmony_sim.errors import UserInputError

    scenario = tiny_scenario(
        clients={"count": 6, "per_round": 6, "tiers": [
            {"name": "low", "share": 1, "profile": "study_slow_board"},
            {"name": "high", "share": 1, "profile": "study_fast_phone"}]},
        evaluation={"max_clients": 1}, inference={"enabled": True})
    run_dir = RunDirectory.create(tmp_path / "run")
    with pytest.raises(UserInputError, match="evaluation.max_clients"):
        run_simulation(scenario, run_dir, show_progress=False)
    assert not run_dir.file("metrics.jsonl").exists()  # failed before training
