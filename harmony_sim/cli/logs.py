"""Log levels for the `harmony_sim` logger, shown through rich on the console the progress bar
uses, so log lines print above the bar instead of breaking it."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from harmony_sim.console import console

LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}  # --quiet, default, --verbose


class _CliHandler(RichHandler):
    """Marks the handler this module installed, so a second main() call replaces it."""


def configure_logging(verbosity: int) -> None:
    logger = logging.getLogger("harmony_sim")
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_CliHandler(console=console, show_path=verbosity > 0, markup=False,
                                  rich_tracebacks=False, log_time_format="[%X]"))
    logger.setLevel(LEVELS[verbosity])
