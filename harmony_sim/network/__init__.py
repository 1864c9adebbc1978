"""The network model: per-client links (profile, named condition, overrides) and transfer times."""

from harmony_sim.network.conditions import NETWORK_CONDITIONS
from harmony_sim.network.link import Link, LinkFigures, client_link
from harmony_sim.network.transfer import MSS_BYTES, transfer_time

__all__ = ["MSS_BYTES", "NETWORK_CONDITIONS", "Link", "LinkFigures", "client_link",
           "transfer_time"]
