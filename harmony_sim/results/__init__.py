"""The run directory: fixed file names, JSON-lines metrics, CSV tables, summary and plots."""

from harmony_sim.results.run_directory import RunDirectory

__all__ = ["RunDirectory"]
