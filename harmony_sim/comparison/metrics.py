"""Which figures of a run's summary.json a comparison shows, and how each is named in the table
and the figure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from harmony_sim.scenario.schema import ExitRule

SKEW_COLUMNS = ["skew", "cut_cosine", "cut_cka", "server_ood_acc_arch_spread"]
AUROC_COLUMNS = [f"ood_auroc[{rule}]" for rule in get_args(ExitRule)]
EXIT_RULE_AUROC = "ood_auroc"  # the AUROC of the rule the run exits with (summary exit_rule)
_RATIO = re.compile(r"^hybrid_acc@p(.+)$")


@dataclass(frozen=True)
class Metric:
    short: str  # table header
    title: str  # figure panel title
    axis: str  # figure y-axis label


def accuracy_columns(ratios: Iterable[float]) -> list[str]:
    ratios = list(ratios)
    return (["device_id_acc", "server_ood_acc"] + [f"hybrid_acc@p{r:g}" for r in ratios]
            + [f"fallback_rate@p{r:g}" for r in ratios])


def all_columns(ratios: Iterable[float]) -> list[str]:
    """Every figure comparison.csv holds."""
    return [*accuracy_columns(ratios), *SKEW_COLUMNS, *AUROC_COLUMNS, EXIT_RULE_AUROC]


def shown_columns(ratios: Iterable[float]) -> list[str]:
    """The figures in the printed table and the PNG."""
    return [*accuracy_columns(ratios), "skew", EXIT_RULE_AUROC]


def ratios_in(rows: Iterable[Mapping[str, Any]]) -> list[float]:
    """The OOD ratios the rows have hybrid accuracies for, ascending."""
    found = {float(m.group(1)) for row in rows for key in row if (m := _RATIO.match(key))}
    return sorted(found)


def with_exit_rule_auroc(row: dict[str, Any], exit_rule: str | None) -> dict[str, Any]:
    if exit_rule is not None and EXIT_RULE_AUROC not in row:
        row[EXIT_RULE_AUROC] = row.get(f"ood_auroc[{exit_rule}]", float("nan"))
    return row


def describe(column: str) -> Metric:
    if column == "device_id_acc":
        return Metric("device ID", "device accuracy on ID samples", "accuracy")
    if column == "server_ood_acc":
        return Metric("server OOD", "server accuracy on OOD samples", "accuracy")
    if column.startswith("hybrid_acc@p"):
        ratio = column.removeprefix("hybrid_acc@p")
        return Metric(f"hybrid p{ratio}", f"hybrid accuracy, OOD ratio {ratio}", "accuracy")
    if column.startswith("fallback_rate@p"):
        ratio = column.removeprefix("fallback_rate@p")
        return Metric(f"fallback p{ratio}", f"fallback rate, OOD ratio {ratio}",
                      "share of samples sent to the server")
    if column == "skew":
        return Metric("skew", "skew across architectures", "1 - cosine of cut tensors")
    if column == EXIT_RULE_AUROC:
        return Metric("AUROC", "OOD-detection AUROC", "AUROC of the exit rule's score")
    return Metric(column, column, column)
