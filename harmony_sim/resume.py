"""`--resume DIR`: the scenario a run directory continues with, and the checks that make a
resumed run equal the uninterrupted one (only fields that do not change the training so far
may differ from the checkpoint's scenario)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harmony_sim.errors import UserInputError
from harmony_sim.results.checkpoint import Checkpoint, read_checkpoint
from harmony_sim.results.run_directory import SCENARIO_FILE, SUMMARY_FILE
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.loading import load_scenario

# Fields a resumed run may change: more rounds, where and how it runs, its outputs, the
# evaluation cadence and the post-training latency study.
CHANGEABLE = ("training.rounds", "evaluation.every", "runtime.backend", "runtime.address",
              "runtime.pool_actors", "runtime.threads_per_actor", "runtime.gpus_per_actor",
              "runtime.on_actor_failure", "runtime.max_actor_restarts", "output.", "inference.",
              "network.")
CHANGEABLE_TEXT = ", ".join(f"{f}*" if f.endswith(".") else f for f in CHANGEABLE)


def prepare_resume(directory: Path, overrides: Sequence[str]) -> tuple[Scenario, Checkpoint]:
    """The scenario (the run's scenario.yaml with `overrides`) and the checkpoint to continue
    from; one-line UserInputError for anything that is not a resumable run."""
    if not directory.exists():
        raise UserInputError(f"--resume {directory}: no such run directory; pass the folder a "
                             "run wrote (results/<name>-<time>)")
    if not directory.is_dir():
        raise UserInputError(f"--resume {directory}: is a file, not a run directory; pass the "
                             "folder a run wrote (results/<name>-<time>)")
    if not (directory / SCENARIO_FILE).is_file():
        raise UserInputError(f"--resume {directory}: no {SCENARIO_FILE} there, so it is not a "
                             "run directory; pass the folder a run wrote")
    checkpoint = read_checkpoint(directory)
    scenario = load_scenario(directory / SCENARIO_FILE, list(overrides))
    current = scenario.model_dump(mode="json", by_alias=True)
    for path in _differences(checkpoint.scenario, current):
        if not any(path == f or (f.endswith(".") and path.startswith(f)) for f in CHANGEABLE):
            raise UserInputError(f"--set {path}: cannot change on --resume (the rounds so far "
                                 "were trained with the checkpoint's value); a resumed run may "
                                 f"change {CHANGEABLE_TEXT}; start a new run instead")
    done, rounds = checkpoint.round, scenario.training.rounds
    if rounds < done:
        raise UserInputError(f"--set training.rounds={rounds}: the checkpoint is after round "
                             f"{done}; give at least {done}")
    if rounds == done and (directory / SUMMARY_FILE).is_file():
        raise UserInputError(f"--resume {directory}: all {done} rounds are done; extend the run "
                             f"with --set training.rounds=N (N > {done})")
    return scenario, checkpoint


def _differences(old: Any, new: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths where two scenario dumps differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new:
        yield prefix.rstrip(".")
