"""The round loop's callbacks: order of hooks, live evaluations, TensorBoard files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from harmony_sim import outputs as outputs_module
from harmony_sim.outputs import RunEnd, RunOutput, RunStart, default_outputs
from harmony_sim.outputs.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from harmony_sim.results import RunDirectory
from harmony_sim.scenario import Scenario
from harmony_sim.simulation import evaluation_due, run_simulation

TIERS = [{"name": "small", "share": 1, "arch": {"family": "plain_cnn", "width": 0.5}},
         {"name": "large", "share": 1, "arch": {"family": "plain_cnn", "width": 1.0}}]


class Recorder(RunOutput):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def run_started(self, start: RunStart) -> None:
        self.calls.append(("start", start.resumed_from))

    def round_finished(self, row: Any) -> None:
        self.calls.append(("round", row["round"]))

    def run_finished(self, end: RunEnd) -> None:
        self.calls.append(("end", len(end.rows)))

    def close(self) -> None:
        self.calls.append(("close", None))


def test_the_loop_calls_every_hook_in_order(tiny_scenario, tmp_path: Path) -> None:
    scenario = tiny_scenario(training={"rounds": 2}, clients={"count": 4, "per_round": 2})
    recorder = Recorder()
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             outputs=[recorder])
    assert recorder.calls == [("start", None), ("round", 0), ("round", 1), ("round", 2),
                              ("end", 3), ("close", None)]
    # Only the given outputs ran: nothing but the loop's own state files was written.
    assert {p.name for p in (tmp_path / "run").iterdir()} <= {"scenario.yaml", "checkpoint.pt"}
    assert summary["evaluations"]["rounds"] == [1, 2]


def test_default_evaluation_gives_a_learning_curve() -> None:
    quickstart = Scenario()
    evaluated = [0] + [r for r in range(1, quickstart.training.rounds + 1)
                       if evaluation_due(r, quickstart)]
    assert len(evaluated) >= 5 and evaluated[-1] == quickstart.training.rounds
    only_ends = quickstart.model_copy(update={"evaluation": quickstart.evaluation.model_copy(
        update={"every": 0})})
    assert [r for r in range(1, 16) if evaluation_due(r, only_ends)] == [15]


def test_tensorboard_files_hold_overall_and_per_tier_curves(tiny_scenario,
                                                            tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scenario = tiny_scenario(training={"rounds": 2}, output={"plots": False},
                             clients={"count": 4, "per_round": 4, "tiers": TIERS})
    assert any(isinstance(o, TensorBoardLog) for o in default_outputs(scenario))
    run_simulation(scenario, RunDirectory.create(tmp_path / "run"), show_progress=False)
    events = EventAccumulator(str(tmp_path / "run" / TENSORBOARD_DIR))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/exit_loss", "accuracy/hybrid_acc@p0.5", "time/eval_s"} <= tags
    assert {"tier/small/hybrid_acc@p0.5", "tier/large/device_acc@p0",
            "participation/small/selected"} <= tags
    curve = events.Scalars("accuracy/hybrid_acc@p0.5")
    assert [e.step for e in curve] == [0, 1, 2]


def test_without_tensorboard_the_run_says_so_and_goes_on(tiny_scenario,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(outputs_module, "tensorboard_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="harmony_sim"):
        chosen = default_outputs(tiny_scenario())
    assert not any(isinstance(o, TensorBoardLog) for o in chosen)
    assert "tensorboard is not installed" in caplog.text
    off = tiny_scenario(output={"plots": False, "tensorboard": False})
    assert not any(isinstance(o, TensorBoardLog) for o in default_outputs(off))
