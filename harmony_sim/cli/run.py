"""`run SCENARIO`: one simulation into a new run directory, or `--resume DIR` to continue one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harmony_sim.errors import UserInputError
from harmony_sim.preflight import check_inputs
from harmony_sim.results import RunDirectory
from harmony_sim.results.checkpoint import CHECKPOINT_FILE
from harmony_sim.results.run_directory import default_run_path
from harmony_sim.resume import prepare_resume
from harmony_sim.scenario.loading import load_scenario
from harmony_sim.simulation import run_simulation

INTERRUPTED = "interrupted: finished rounds are in metrics.jsonl"


def execute(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.address:
        overrides.append(f"runtime.address={args.address}")
    checkpoint = None
    if args.resume is not None:
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
        run_simulation(scenario, run_dir, show_progress=args.verbosity >= 0, resume=checkpoint)
    except UserInputError:
        run_dir.discard_unstarted()  # a run refused on its input leaves no folder behind
        raise
    except KeyboardInterrupt:
        print(f"{INTERRUPTED}{_resume_hint(run_dir.path)}", file=sys.stderr)
        return 130
    return 0


def _resume_hint(path: Path) -> str:
    if not (path / CHECKPOINT_FILE).is_file():
        return ""
    return f"; continue with: python -m harmony_sim --resume {path}"
