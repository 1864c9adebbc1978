"""The argument parser: global log-level flags and one subparser per command. Only argparse
and pathlib here, so `--help` and argument errors answer without importing torch or Ray."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from pathlib import Path

from harmony_sim.errors import UserInputError

PROG = "python -m harmony_sim"
LIST_KINDS = ("algorithms", "datasets", "families", "profiles", "scenarios")
# The module that executes each command (its `execute(args)`; profile parses its own argv),
# imported only when the command runs.
COMMAND_MODULES = {"run": "harmony_sim.cli.run", "profile": "harmony_sim.devices.host",
                   "list": "harmony_sim.cli.listing", "config": "harmony_sim.cli.config",
                   "compare": "harmony_sim.cli.compare", "sweep": "harmony_sim.cli.sweep"}
VERBOSITY_FLAGS = ("-v", "--verbose", "-q", "--quiet")
HELP_FLAGS = ("-h", "--help")


class Parser(argparse.ArgumentParser):
    """Usage errors as one UserInputError line (exit 2), not argparse's usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"{message}; see {self.prog} --help")


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Simulate hybrid split federated learning. `python -m harmony_sim SCENARIO` "
                    "is short for `run SCENARIO`; with no arguments it runs the built-in "
                    "quickstart (the defaults of every field).",
        epilog="-v/-q go before or after the command: `python -m harmony_sim -q run s.yaml` "
               "or `... run s.yaml -q`.")
    _add_verbosity(parser, default=0)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_run(commands)
    _add(commands, "profile", "measure this host and write it as a device profile "
                              "(options: python -m harmony_sim profile --help)")
    listing = _add(commands, "list", "list the registered names of one kind, with a line each")
    listing.add_argument("kind", choices=LIST_KINDS, metavar="{" + ",".join(LIST_KINDS) + "}")
    config = _add(commands, "config", "print the resolved scenario (every default filled in) "
                                      "as YAML")
    config.add_argument("scenario", nargs="?", type=Path,
                        help="scenario YAML file (default: the built-in quickstart)")
    _add_overrides(config)
    _add_compare(commands)
    _add_sweep(commands)
    return parser


def with_default_command(argv: Sequence[str]) -> list[str]:
    """`SCENARIO ...`, `--resume DIR` and no arguments at all mean `run ...` (the form before
    subcommands existed); a word that is neither a command nor a file is refused."""
    argv = list(argv)
    start = 0
    while start < len(argv) and argv[start] in VERBOSITY_FLAGS + HELP_FLAGS:
        if argv[start] in HELP_FLAGS:
            return argv
        start += 1
    if start < len(argv):
        first = argv[start]
        if first in COMMAND_MODULES:
            return argv
        if _looks_like_command(first):
            close = difflib.get_close_matches(first, list(COMMAND_MODULES), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise UserInputError(f"{first!r}: no such command or scenario file; {hint}commands: "
                                 f"{', '.join(COMMAND_MODULES)} (python -m harmony_sim --help), "
                                 "or pass a scenario YAML such as scenarios/quickstart.yaml")
    return [*argv[:start], "run", *argv[start:]]


def _looks_like_command(token: str) -> bool:
    """A bare word (no path separator, no suffix) that names no existing file."""
    return (not token.startswith("-") and "/" not in token and "." not in token
            and not Path(token).exists())


def _add(commands: argparse._SubParsersAction, name: str, help_text: str) -> Parser:
    parser = commands.add_parser(name, help=help_text, description=help_text,
                                 prog=f"{PROG} {name}")
    _add_verbosity(parser, default=argparse.SUPPRESS)  # keep what came before the command
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       default=default, help="debug log lines")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=default, help="warnings only, no progress bar")


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY.PATH=VALUE", help="override a field, e.g. training.rounds=3 "
                        "(repeatable; the value parses as YAML)")


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = _add(commands, "run", "run one scenario (the default command)")
    run.add_argument("scenario", nargs="?", type=Path,
                     help="scenario YAML file (default: the built-in quickstart)")
    _add_overrides(run)
    run.add_argument("--out", type=Path, help="run directory (default: "
                     "<output.dir>/<name>-<timestamp>); must be new or empty")
    run.add_argument("--address", help="join the Ray cluster at this address "
                     "(same as --set runtime.address=...)")
    run.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR "
                     "from its checkpoint (a raised --set training.rounds=N extends it)")


def _add_compare(commands: argparse._SubParsersAction) -> None:
    compare = _add(commands, "compare", "tabulate and plot finished runs: mean ± std over the "
                                        "runs (seeds) of each group")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                         help="a run folder, or a folder holding run folders (a sweep)")
    _add_grouping(compare)
    compare.add_argument("--out", type=Path, help="folder for comparison.csv/.json/.png and "
                         "runs.csv (default: results/comparison-<timestamp>)")


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    sweep = _add(commands, "sweep", "run a scenario over a grid of field values and seeds, "
                                    "then compare the runs grouped by the grid's fields")
    sweep.add_argument("scenario", type=Path, help="scenario YAML file")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2",
                       help="one axis of the grid, e.g. algorithm.name=harmony,splitgp "
                            "(repeatable: the runs are the cartesian product)")
    sweep.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                       help="seeds to run each grid point with (default: the scenario's seed)")
    _add_overrides(sweep)
    sweep.add_argument("--out", type=Path, help="folder for the runs (one subfolder each) and "
                       "the comparison (default: <output.dir>/sweep-<name>-<timestamp>); "
                       "must be new or empty")
    sweep.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="runs in parallel, each in its own process (needs --set "
                            "runtime.backend=local when N > 1)")


def _add_grouping(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", action="append", metavar="FIELD[,FIELD]",
                        help="group by these dotted scenario fields (repeatable; default: "
                             "algorithm.name), e.g. --by training.lr")
