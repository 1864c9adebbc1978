"""The registries' entries for `list algorithms|datasets|families` (importing them loads torch,
which `list profiles|scenarios` does not need)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import partial

from harmony_sim.algorithms import ALGORITHMS
from harmony_sim.cli.descriptions import first_sentence
from harmony_sim.data import DATASETS
from harmony_sim.models import FAMILIES

Entry = tuple[str, str]


def algorithms() -> Iterable[Entry]:
    for name in ALGORITHMS:
        entry = ALGORITHMS.get(name)
        if isinstance(entry, partial):  # an ablation: the class with some knobs fixed
            knobs = ", ".join(f"{k}={v!r}" for k, v in entry.keywords.items())
            base = getattr(entry.func, "name", entry.func.__name__)
            yield name, f"{base} with {knobs} (ablation)"
        else:  # the module docstring says what the algorithm is (the class only names it)
            yield name, first_sentence(inspect.getmodule(entry).__doc__)  # type: ignore[union-attr]


def datasets() -> Iterable[Entry]:
    for name in DATASETS:
        yield name, first_sentence(DATASETS.get(name).__doc__)


def families() -> Iterable[Entry]:
    # The family's module docstring says what it is; the builder's says how it is built.
    for name in FAMILIES:
        module = inspect.getmodule(FAMILIES.get(name))
        yield name, first_sentence(module.__doc__ if module else None)
