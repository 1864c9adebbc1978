"""The device-profile schema (one YAML per device under device_profiles/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harmony_sim.config_models import StrictModel


class DeviceProfile(StrictModel):
    """A device's compute, memory and link. Numbers come from public specs or benchmarks; each
    profile YAML names its source beside every number in a comment."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    tier: Literal["low", "mid", "high", "host"] = Field(description="coarse device class")
    compute_gflops: float = Field(gt=0.0, description="effective fp32 GFLOP/s for small conv "
                                  "nets on this device")
    cpu_cores: int = Field(ge=1, description="cores the client may use")
    memory_mb: float = Field(gt=0.0, description="memory available to the app, MB")
    uplink_mbps: float = Field(gt=0.0)
    downlink_mbps: float = Field(gt=0.0)
    rtt_ms: float = Field(ge=0.0, description="round-trip time to the server")
    jitter_ms: float = Field(0.0, ge=0.0, description="std-dev of one-way delay variation")
    availability: float = Field(1.0, gt=0.0, le=1.0, description="probability of being online "
                                "in a round")
    energy_j_per_gflop: float | None = Field(None, gt=0.0)
