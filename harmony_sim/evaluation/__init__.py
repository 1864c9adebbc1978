"""Hybrid inference evaluation: per-sample records per client, exit rules, metrics at OOD
ratios."""

from harmony_sim.evaluation.exit_rules import EXIT_RULES, ExitRule, normalised_entropy
from harmony_sim.evaluation.hybrid import (
    ClientEvaluation,
    client_metrics,
    mean_of_rows,
    per_client_rows,
)

__all__ = ["EXIT_RULES", "ClientEvaluation", "ExitRule", "client_metrics", "mean_of_rows",
           "normalised_entropy", "per_client_rows"]
