"""Command line: `python -m harmony_sim [run] SCENARIO [--set k=v] [--out DIR] [--address A]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harmony_sim.errors import UserInputError


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harmony_sim",
        description="Simulate hybrid split federated learning. With no scenario, runs the "
                    "built-in quickstart (the defaults of every field).")
    parser.add_argument("scenario", nargs="?", type=Path, help="scenario YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY.PATH=VALUE", help="override a field, e.g. training.rounds=3")
    parser.add_argument("--out", type=Path, help="run directory (default: "
                        "<output.dir>/<name>-<timestamp>); must be new or empty")
    parser.add_argument("--address", help="join the Ray cluster at this address "
                        "(same as --set runtime.address=...)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_command(argv: Sequence[str]) -> int:
    args = _run_parser().parse_args(argv)
    from harmony_sim.results import RunDirectory
    from harmony_sim.results.run_directory import default_run_path
    from harmony_sim.scenario import load_scenario
    from harmony_sim.simulation import run_simulation

    overrides = list(args.overrides)
    if args.address:
        overrides.append(f"runtime.address={args.address}")
    scenario = load_scenario(args.scenario, overrides)
    run_dir = RunDirectory.create(args.out or default_run_path(scenario))
    run_simulation(scenario, run_dir, show_progress=not args.quiet)
    return 0


def profile_command(argv: Sequence[str]) -> int:
    from harmony_sim.devices.host import profile_command as measure

    return measure(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {"run": run_command,
                                                       "profile": profile_command}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        if command is not None:
            return command(argv[1:])
        return run_command(argv)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished rounds are in metrics.jsonl", file=sys.stderr)
        return 130
