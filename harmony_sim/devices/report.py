"""The chosen architectures per tier: a rich table on the console, and the rows of
architectures.csv and summary.json (excluded tiers with their reasons)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from harmony_sim.console import console
from harmony_sim.devices.fitting import MB

if TYPE_CHECKING:
    from harmony_sim.population import TierPlan

ARCHITECTURES_FILE = "architectures.csv"
ARCHITECTURE_COLUMNS = ("tier", "profile", "clients", "how", "arch", "params",
                        "forward_mflops", "train_mflops", "peak_train_mb", "cut_bytes",
                        "device_step_ms", "reason")


def tier_rows(tiers: Sequence[TierPlan]) -> list[dict[str, Any]]:
    rows = []
    for t in tiers:
        c = t.cost
        rows.append({"tier": t.tier, "profile": t.profile, "clients": t.clients, "how": t.how,
                     "arch": t.arch.id if t.arch else "",
                     "params": c.params if c else None,
                     "forward_mflops": c.forward_flops / 1e6 if c else None,
                     "train_mflops": c.train_flops / 1e6 if c else None,
                     "peak_train_mb": c.peak_train_bytes / MB if c else None,
                     "cut_bytes": c.cut_bytes if c else None,
                     "device_step_ms": t.device_step_ms, "reason": t.reason})
    return rows


def print_architectures(tiers: Sequence[TierPlan], host_gflops: float | None) -> None:
    """Tier, profile, arch and its cost figures (FLOPs per sample; memory at the batch size)."""
    title = "architectures per tier" + (f" (host {host_gflops:.1f} GFLOP/s)"
                                        if host_gflops else "")
    # Light borders, no edge padding: the table fits an 80-column console.
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.caption = ("MFLOP: training FLOPs per sample of the client side (extractor + exit "
                     "head); MB: estimated peak training memory at the batch size; cut B: cut "
                     "tensor bytes per sample; ms: predicted device time per training step")
    for name in ("tier", "profile", "n", "arch", "params", "MFLOP", "MB", "cut B", "ms"):
        text = name in ("tier", "profile")  # names may fold on a narrow console; numbers never
        table.add_column(name, justify="left" if text or name == "arch" else "right",
                         no_wrap=not text, overflow="fold", min_width=4 if text else None)
    reasons = []
    for row in tier_rows(tiers):
        if not row["arch"]:
            table.add_row(row["tier"], row["profile"], str(row["clients"]), "[red]excluded[/red]",
                          *["-"] * 5)
            reasons.append(f"[red]excluded[/red] tier {row['tier']}: {row['reason']}")
            continue
        step = row["device_step_ms"]
        table.add_row(row["tier"], row["profile"], str(row["clients"]), row["arch"],
                      f"{row['params']:,}", f"{row['train_mflops']:.2f}",
                      f"{row['peak_train_mb']:.1f}", f"{row['cut_bytes']:,}",
                      "-" if step is None else f"{step:.1f}")
    console.print(table)
    for line in reasons:
        console.print(line)
