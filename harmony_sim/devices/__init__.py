"""Device profiles: what a simulated client's hardware and network link can do."""

from harmony_sim.devices.catalog import (
    available_profiles,
    load_profile,
    load_profile_file,
    resolve_profile,
)
from harmony_sim.devices.profile import DeviceProfile

__all__ = ["DeviceProfile", "available_profiles", "load_profile", "load_profile_file",
           "resolve_profile"]
