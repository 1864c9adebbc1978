"""The network model: per-client links (profile, named condition, overrides), transfer times and
the cut-tensor codecs of the uplink."""

from harmony_sim.network.conditions import NETWORK_CONDITIONS, LinkFigures
from harmony_sim.network.link import Link, client_link
from harmony_sim.network.transfer import MSS_BYTES, transfer_time

__all__ = ["MSS_BYTES", "NETWORK_CONDITIONS", "Link", "LinkFigures", "client_link",
           "transfer_time"]
