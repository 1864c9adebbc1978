"""`config [SCENARIO] [--set ...]`: the resolved scenario as YAML, the same text a run writes to
its scenario.yaml (so it can be saved and run as it is)."""

from __future__ import annotations

import argparse
import sys

from harmony_sim.results.run_directory import resolved_yaml
from harmony_sim.scenario.loading import load_scenario


def execute(args: argparse.Namespace) -> int:
    sys.stdout.write(resolved_yaml(load_scenario(args.scenario, args.overrides)))
    return 0
