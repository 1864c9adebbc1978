"""`list {algorithms,datasets,families,profiles,scenarios}`: every name with a one-line
description."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

import harmony_sim
from harmony_sim.cli.descriptions import first_sentence, header_comment
from harmony_sim.devices.catalog import available_profiles, load_profile, profiles_dir

Entry = tuple[str, str]
REGISTERED = "harmony_sim.cli.registered_names"  # algorithms, datasets, families (loads torch)


def execute(args: argparse.Namespace) -> int:
    lister = (LISTERS[args.kind] if args.kind in LISTERS
              else getattr(importlib.import_module(REGISTERED), args.kind))
    entries = list(lister())
    width = max((len(name) for name, _ in entries), default=0)
    for name, description in entries:
        print(f"{name:<{width}}  {description}")
    if not entries:
        print(f"(no {args.kind} found)", file=sys.stderr)
    return 0


def profiles() -> Iterable[Entry]:
    folder = profiles_dir()
    for name in available_profiles(folder):
        profile = load_profile(name, folder)
        device = first_sentence(header_comment(folder / f"{name}.yaml"))
        yield name, (f"{device}: {profile.tier} tier, {profile.compute_gflops:g} GFLOP/s, "
                     f"{profile.memory_mb:g} MB")


def scenarios() -> Iterable[Entry]:
    for path in sorted(scenarios_dir().glob("*.yaml")):
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        yield str(shown), first_sentence(header_comment(path))


def scenarios_dir() -> Path:
    """scenarios/ beside the package (source checkout, editable install), else
    <prefix>/share/harmony_sim/scenarios (a wheel install; see pyproject's data-files)."""
    checkout = Path(harmony_sim.__file__).resolve().parents[1] / "scenarios"
    installed = Path(sys.prefix) / "share" / "harmony_sim" / "scenarios"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


LISTERS = {"profiles": profiles, "scenarios": scenarios}
