"""Command line: `python -m harmony_sim COMMAND ...` with the commands run (the default: the bare
`python -m harmony_sim [SCENARIO]` and `--resume DIR` still work), profile, list, config, compare
and sweep. Each command's module is imported only when it runs, so `--help`, `list` and `config`
do not pay for Ray."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from harmony_sim.cli.logs import configure_logging
from harmony_sim.cli.parser import COMMAND_MODULES, build_parser, with_default_command
from harmony_sim.errors import RunFailure, UserInputError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(with_default_command(argv))
    except (UserInputError, RunFailure) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # a run prints its own line (cli/run.py)
        return 130


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    command_at = next((i for i, token in enumerate(argv) if token in COMMAND_MODULES), None)
    if command_at is not None and argv[command_at] == "profile":
        # profile has its own parser (harmony_sim.devices.host); hand it the rest unchanged.
        leading = parser.parse_args(argv[:command_at])
        configure_logging(leading.verbosity)
        return importlib.import_module(COMMAND_MODULES["profile"]).profile_command(
            argv[command_at + 1:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help printed its text
        return int(exc.code or 0)
    configure_logging(args.verbosity)
    module = importlib.import_module(COMMAND_MODULES[args.command])
    return int(module.execute(args))
