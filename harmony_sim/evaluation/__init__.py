"""Hybrid inference evaluation: per-sample records per client, exit rules, metrics at OOD
ratios."""

from harmony_sim.evaluation.exit_rules import EXIT_RULES, ExitRule, normalised_entropy
from harmony_sim.evaluation.hybrid import (
    ClientEvaluation,
    client_metrics,
    summarise_evaluations,
)

__all__ = ["EXIT_RULES", "ClientEvaluation", "ExitRule", "client_metrics", "normalised_entropy",
           "summarise_evaluations"]
