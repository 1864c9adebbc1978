"""TensorBoard event files in <run>/tensorboard as rounds finish: losses, traffic and times per
round, accuracy at every evaluated round, participation and accuracy per tier. Needs the
optional `tensorboard` package (pip install -e .[tensorboard])."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from harmony_sim.evaluation.hybrid import ACCURACY_METRICS
from harmony_sim.outputs.base import Row, RunOutput, RunStart

TENSORBOARD_DIR = "tensorboard"
ACCURACY_PREFIXES = (*ACCURACY_METRICS, "ood_auroc")


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def scalar_tag(key: str) -> str:
    """TensorBoard groups tags by their first part: accuracy, train, traffic, time, round."""
    if key.startswith(ACCURACY_PREFIXES):
        return f"accuracy/{key}"
    if key.endswith("_loss"):
        return f"train/{key}"
    if key.endswith("_mb"):
        return f"traffic/{key}"
    if key.endswith("_s"):
        return f"time/{key}"
    return f"round/{key}"


class TensorBoardLog(RunOutput):
    def __init__(self) -> None:
        self.writer: Any = None

    def run_started(self, start: RunStart) -> None:
        # Imported here: tensorboard is an optional extra (default_outputs checks it exists).
        from torch.utils.tensorboard import SummaryWriter

        # On resume, events after the checkpoint's round are dropped: those rounds run again.
        purge = None if start.resumed_from is None else start.resumed_from + 1
        self.writer = SummaryWriter(str(start.run_dir.ensure() / TENSORBOARD_DIR),
                                    purge_step=purge)

    def round_finished(self, row: Row) -> None:
        step = int(row["round"])
        for key, value in row.items():
            if _is_number(value) and key != "round":
                self.writer.add_scalar(scalar_tag(key), value, step)
        for tier, counts in (row.get("tiers") or {}).items():
            for name, count in counts.items():
                self.writer.add_scalar(f"participation/{tier}/{name}", count, step)
        for tier, metrics in (row.get("tier_metrics") or {}).items():
            for key, value in metrics.items():
                if _is_number(value):
                    self.writer.add_scalar(f"tier/{tier}/{key}", value, step)
        self.writer.flush()  # a live `tensorboard --logdir` shows the round at once

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))
