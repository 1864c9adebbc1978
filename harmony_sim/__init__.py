"""harmony_sim: a Ray-based simulator for hybrid split federated learning on profiled devices."""

__version__ = "0.1.0"
