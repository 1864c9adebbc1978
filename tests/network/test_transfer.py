"""The transfer-time function, links from profiles/conditions/overrides, and bad bandwidths."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from harmony_sim.cli import main
from harmony_sim.devices import DeviceProfile, load_profile_file
from harmony_sim.errors import UserInputError
from harmony_sim.network import (
    MSS_BYTES,
    NETWORK_CONDITIONS,
    Link,
    LinkFigures,
    client_link,
    transfer_time,
)
from harmony_sim.scenario.schema import NetworkCondition, NetworkConfig


def profile(**changes: float) -> DeviceProfile:
    fields = dict(name="test_phone", tier="mid", compute_gflops=10.0, cpu_cores=4,
                  memory_mb=2048, uplink_mbps=8.0, downlink_mbps=32.0, rtt_ms=40.0,
                  jitter_ms=5.0)
    return DeviceProfile(**{**fields, **changes})


def test_transfer_time_is_serialisation_plus_half_rtt_without_jitter_or_loss() -> None:
    link = Link(LinkFigures(uplink_mbps=8.0, downlink_mbps=32.0, rtt_ms=40.0), jitter="none")
    rng = np.random.default_rng(0)
    up = transfer_time(np.array([1000, 6272]), link, "up", rng)
    # 1000 B at 8 Mbit/s = 1 ms; 6272 B = 6.272 ms; plus 20 ms one-way propagation.
    assert up == pytest.approx([0.021, 0.026272])
    assert transfer_time(4000, link, "down", rng) == pytest.approx([0.001 + 0.020])


def test_loss_adds_timeouts_and_resends_per_lost_packet() -> None:
    figures = LinkFigures(uplink_mbps=10.0, downlink_mbps=10.0, rtt_ms=20.0, loss_rate=0.3)
    lossy = Link(figures, jitter="none", retransmit_timeout_ms=200.0)
    clean = Link(LinkFigures(10.0, 10.0, 20.0), jitter="none")
    nbytes = np.full(20_000, 10 * MSS_BYTES)
    extra = (transfer_time(nbytes, lossy, "up", np.random.default_rng(1))
             - transfer_time(nbytes, clean, "up", np.random.default_rng(1)))
    per_loss = 0.200 + MSS_BYTES * 8 / 10e6
    losses = extra / per_loss
    assert np.allclose(losses, np.round(losses))  # whole lost packets only
    # Failures before 10 successes at p = 0.7: mean 10 * 0.3 / 0.7.
    assert losses.mean() == pytest.approx(10 * 0.3 / 0.7, rel=0.05)


def test_jitter_is_seeded_and_has_the_profile_spread() -> None:
    link = Link(LinkFigures(100.0, 100.0, 10.0, jitter_ms=5.0), jitter="exponential")
    a = transfer_time(np.zeros(50_000), link, "up", np.random.default_rng(7))
    b = transfer_time(np.zeros(50_000), link, "up", np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert a.min() >= 0.005
    assert (a - 0.005).std() == pytest.approx(0.005, rel=0.05)
    normal = Link(link.figures, jitter="normal")
    c = transfer_time(np.zeros(50_000), normal, "up", np.random.default_rng(7))
    # Truncated at zero propagation, centred on RTT/2.
    assert c.min() >= 0.0 and np.median(c) == pytest.approx(0.005, abs=2e-4)


def test_client_link_takes_profile_then_condition_then_overrides() -> None:
    network = NetworkConfig(rtt_ms=70.0, tiers={"low": {"uplink_mbps": 0.25}})
    own = client_link(profile(), "mid", "profile", network).figures
    assert (own.uplink_mbps, own.downlink_mbps, own.rtt_ms) == (8.0, 32.0, 70.0)
    cond = client_link(profile(), "low", "3g", network).figures
    assert cond.uplink_mbps == 0.25
    assert cond.downlink_mbps == NETWORK_CONDITIONS["3g"].downlink_mbps
    assert cond.loss_rate == NETWORK_CONDITIONS["3g"].loss_rate


def test_every_schema_condition_has_figures() -> None:
    assert set(get_args(NetworkCondition)) == {"profile", *NETWORK_CONDITIONS}


@pytest.mark.parametrize("override", ["network.uplink_mbps=0", "network.downlink_mbps=-5",
                                      "network.tiers.low.uplink_mbps=0"])
def test_zero_or_negative_bandwidth_override_is_exit_2_with_one_line(
        override: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios/quickstart.yaml", "--set", override, "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error:") and override.split("=")[0] in err


def test_zero_bandwidth_profile_is_exit_2_with_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from harmony_sim.devices.catalog import PROFILES_ENV

    (tmp_path / "dead_link_phone.yaml").write_text(
        "name: dead_link_phone\ntier: low\ncompute_gflops: 5\ncpu_cores: 4\nmemory_mb: 1024\n"
        "uplink_mbps: 0\ndownlink_mbps: 10\nrtt_ms: 50\n")
    with pytest.raises(UserInputError, match="uplink_mbps"):
        load_profile_file(tmp_path / "dead_link_phone.yaml")
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    code = main(["scenarios/quickstart.yaml", "--set", "inference.enabled=true",
                 "--set", "clients.tiers=[{name: low, share: 1, profile: dead_link_phone}]",
                 "--set", "runtime.backend=local", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err and "uplink_mbps" in err and "dead_link_phone" in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # failed before training


def test_link_rejects_non_positive_bandwidth_from_code() -> None:
    broken = profile().model_construct(**{**profile().model_dump(), "downlink_mbps": 0.0})
    with pytest.raises(UserInputError, match="downlink_mbps"):
        client_link(broken, "mid", "profile", NetworkConfig())
