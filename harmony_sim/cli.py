"""Command line: `python -m harmony_sim [run] SCENARIO [--set k=v] [--out DIR] [--address A]`
and `python -m harmony_sim --resume DIR [--set training.rounds=N]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harmony_sim.errors import RunFailure, UserInputError


def _run_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR "
                        "from its checkpoint (a raised --set training.rounds=N extends it)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors as one UserInputError line (exit 2), not argparse's usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"{message}; see python -m harmony_sim --help")


def run_command(argv: Sequence[str]) -> int:
    args = _run_parser().parse_args(argv)
    from harmony_sim.preflight import check_inputs
    from harmony_sim.results import RunDirectory
    from harmony_sim.results.run_directory import default_run_path
    from harmony_sim.scenario.loading import load_scenario
    from harmony_sim.simulation import run_simulation

    overrides = list(args.overrides)
    if args.address:
        overrides.append(f"runtime.address={args.address}")
    checkpoint = None
    if args.resume is not None:
        from harmony_sim.resume import prepare_resume

        if args.scenario is not None or args.out is not None:
            raise UserInputError("--resume DIR continues the run in DIR with its own "
                                 "scenario.yaml; drop the scenario and --out (change rounds "
                                 "with --set training.rounds=N)")
        scenario, checkpoint = prepare_resume(args.resume, overrides)
        source = str(args.resume / "scenario.yaml")
    else:
        scenario = load_scenario(args.scenario, overrides)
        source = str(args.scenario) if args.scenario is not None else "<defaults>"
    check_inputs(scenario, source)  # before anything is written
    run_dir = (RunDirectory.reopen(args.resume) if args.resume is not None
               else RunDirectory.create(args.out or default_run_path(scenario)))
    try:
        run_simulation(scenario, run_dir, show_progress=not args.quiet, resume=checkpoint)
    except UserInputError:
        run_dir.discard_unstarted()  # a run refused on its input leaves no folder behind
        raise
    except KeyboardInterrupt:
        print(f"{INTERRUPTED}{_resume_hint(run_dir.path)}", file=sys.stderr)
        return 130
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
    except (UserInputError, RunFailure) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


INTERRUPTED = "interrupted: finished rounds are in metrics.jsonl"


def _resume_hint(path: Path) -> str:
    from harmony_sim.results.checkpoint import CHECKPOINT_FILE

    if not (path / CHECKPOINT_FILE).is_file():
        return ""
    return f"; continue with: python -m harmony_sim --resume {path}"
