"""Where clients run: pool actors hosting virtual clients, a server actor, Ray or in-process."""

from harmony_sim.runtime.backends import LocalRuntime, RayRuntime, Runtime, create_runtime
from harmony_sim.runtime.client_pool import ClientPool
from harmony_sim.runtime.server import Server

__all__ = ["ClientPool", "LocalRuntime", "RayRuntime", "Runtime", "Server", "create_runtime"]
