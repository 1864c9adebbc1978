"""Shipped device profiles validate; a bad profile is a one-line error with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harmony_sim.cli import main
from harmony_sim.devices import available_profiles, load_profile, load_profile_file
from harmony_sim.devices.catalog import PROFILES_ENV, profiles_dir
from tests.conftest import tiny_scenario_dict

SHIPPED = ["raspberry_pi_4", "raspberry_pi_5", "galaxy_a14", "jetson_nano", "pixel_6a",
           "galaxy_s23", "jetson_orin_nano", "laptop_i5_1135g7"]


def test_the_eight_devices_ship() -> None:
    assert available_profiles() == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_validates_and_cites_every_number(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.tier in ("low", "mid", "high")
    for line in (profiles_dir() / f"{name}.yaml").read_text().splitlines():
        key, _, rest = line.partition(":")
        if line and not line.startswith("#") and key in profile.model_fields and \
                key not in ("name", "tier", "compute_gflops"):
            assert "#" in rest, f"{name}: {key} has no source comment"
    # compute_gflops is derived in the comment block just above it
    lines = (profiles_dir() / f"{name}.yaml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("compute_gflops:"))
    assert lines[at - 1].startswith("#") and "(derived)" in lines[at - 1]


def test_tiers_cover_low_mid_high() -> None:
    assert {load_profile(n).tier for n in SHIPPED} == {"low", "mid", "high"}


def bad_profile_dir(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load((profiles_dir() / "pixel_6a.yaml").read_text())
    raw.update(changes)
    raw = {k: v for k, v in raw.items() if v is not None}
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "pixel_6a.yaml").write_text(yaml.safe_dump(raw))
    return folder


@pytest.mark.parametrize(("changes", "expected"), [
    ({"memory_mb": None}, "memory_mb: Field required"),
    ({"compute_gflops": -3.0}, "compute_gflops: Input should be greater than 0"),
    ({"uplink_mbps": -1}, "uplink_mbps"),
])
def test_bad_profile_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           changes: dict, expected: str) -> None:
    monkeypatch.setenv(PROFILES_ENV, str(bad_profile_dir(tmp_path, **changes)))
    scenario = tiny_scenario_dict(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "phone", "share": 1, "profile": "pixel_6a"}]})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    code = main([str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]


def test_unknown_profile_names_the_choices(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tiny_scenario_dict(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "x", "share": 1, "profile": "nokia_3310"}]})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    assert main([str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nokia_3310" in err[0] and "pixel_6a" in err[0]


def test_profile_file_problems_are_one_line(tmp_path: Path) -> None:
    from harmony_sim.errors import UserInputError

    bad = tmp_path / "p.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(UserInputError, match="YAML syntax error"):
        load_profile_file(bad)
