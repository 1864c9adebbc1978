"""Hybrid inference evaluation: per-sample records per client, metrics at OOD ratios."""

from harmony_sim.evaluation.hybrid import (
    ClientEvaluation,
    client_metrics,
    exit_entropy,
    summarise_evaluations,
)

__all__ = ["ClientEvaluation", "client_metrics", "exit_entropy", "summarise_evaluations"]
