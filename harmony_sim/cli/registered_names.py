"""The registries' entries for `list algorithms|datasets|families` (importing them loads torch,
which `list profiles|scenarios` does not need)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from harmony_sim.cli.descriptions import first_sentence
from harmony_sim.data import DATASETS
from harmony_sim.models import FAMILIES
from harmony_sim.scenario.algorithm_configs import (
    HARMONY_PRESETS,
    algorithm_names,
    algorithm_section,
)

Entry = tuple[str, str]


def algorithms() -> Iterable[Entry]:
    # The config section's docstring says what the algorithm is; a preset, which flag it fixes.
    for name in algorithm_names():
        fixed = HARMONY_PRESETS.get(name)
        if fixed:
            knobs = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
            yield name, f"harmony with {knobs} (ablation)"
        else:
            yield name, first_sentence(algorithm_section(name).__doc__)


def datasets() -> Iterable[Entry]:
    for name in DATASETS:
        yield name, first_sentence(DATASETS.get(name).__doc__)


def families() -> Iterable[Entry]:
    # The family's module docstring says what it is; the builder's says how it is built.
    for name in FAMILIES:
        module = inspect.getmodule(FAMILIES.get(name))
        yield name, first_sentence(module.__doc__ if module else None)
