"""Console output: a progress bar over rounds with live accuracy, and the closing tables
(accuracy, participation, latency study)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=False)


class RoundProgress(AbstractContextManager["RoundProgress"]):
    """A rich progress bar over rounds; `update` shows the latest metrics beside it."""

    def __init__(self, rounds: int, title: str, enabled: bool = True, done: int = 0) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=console, disable=not enabled)
        self._task = self._progress.add_task(title, total=rounds, completed=done, status="")

    def __enter__(self) -> RoundProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, status: str) -> None:
        self._progress.update(self._task, advance=1, status=status)


def print_summary(title: str, final: Mapping[str, Any], ratios: Sequence[float]) -> None:
    """Accuracy per OOD ratio (device / server / hybrid / fallback) as one table."""
    table = Table(title=title)
    table.add_column("OOD ratio p", justify="right")
    for name in ("device acc", "server acc", "hybrid acc", "fallback rate"):
        table.add_column(name, justify="right")
    for ratio in ratios:
        cells = [final.get(f"{m}@p{ratio:g}") for m in
                 ("device_acc", "server_acc", "hybrid_acc", "fallback_rate")]
        table.add_row(f"{ratio:g}", *(_fmt(c) for c in cells))
    console.print(table)


def print_participation(per_tier: Mapping[str, Mapping[str, int]]) -> None:
    """Selected / finished / dropped / straggled client-rounds per tier, over the run."""
    table = Table(title="participation (client-rounds)")
    columns = ("selected", "finished", "dropped", "straggled")
    table.add_column("tier")
    for name in columns:
        table.add_column(name, justify="right")
    for tier, counts in per_tier.items():
        table.add_row(tier, *(str(counts.get(c, 0)) for c in columns))
    console.print(table)


def print_latency_table(summary: Mapping[str, Any]) -> None:
    """The headline figures as one console table."""
    rows = summary["headline"]
    title = (f"fallback inference ({rows[0]['codec']}, threshold {rows[0]['threshold']:g}; "
             f"server {summary['workers']} x {summary['service_ms']:.3g} ms)") if rows else ""
    columns = ("condition", "tier", "p50_ms", "p95_ms", "p99_ms", "fallback_rate", "accuracy")
    tables = [(title, columns, rows)]
    if "slo" in summary:
        codec = summary["slo"][0]["codec"]
        tables.append((f"SLO p95 <= {summary['slo'][0]['slo_p95_ms']:g} ms ({codec}): "
                       "threshold picked per tier", ("condition", "tier", "threshold", "met",
                                                     "p95_ms", "fallback_rate", "accuracy"),
                       [r for r in summary["slo"] if r["codec"] == codec]))
    for caption, names, content in tables:
        table = Table(title=caption)
        for name in names:
            table.add_column(name, justify="left" if name in ("condition", "tier") else "right")
        for r in content:
            table.add_row(*(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "-"))
                            for c in names))
        console.print(table)


def _fmt(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
