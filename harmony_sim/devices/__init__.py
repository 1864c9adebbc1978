"""Device profiles: what a simulated client's hardware and network link can do."""

from harmony_sim.devices.profile import DeviceProfile

__all__ = ["DeviceProfile"]
