"""Fallback inference over the simulated network: cut codecs, request streams, a queueing
server and the latency study."""
