"""Checkpoints and --resume: a run stopped (Ctrl-C mid-round) or extended and then resumed
ends with exactly the metrics of the uninterrupted run under the same seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import harmony_sim.simulation as simulation
from harmony_sim.cli import main
from harmony_sim.results import RunDirectory
from harmony_sim.results.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from harmony_sim.results.run_directory import METRICS_FILE, SUMMARY_FILE
from harmony_sim.simulation import run_simulation
from tests.conftest import tiny_scenario_dict

TIMING = {"wall_s", "compute_s", "device_s", "device_max_s", "round_time_s", "checkpoint_s",
          "eval_s"}


def metrics(run: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


ALGORITHMS = [
    pytest.param({"name": "splitgp"}, id="splitgp-lockstep"),
    pytest.param({"name": "harmony", "simulated_extractors": 1, "queue_size": 32},
                 id="harmony-queue"),
]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_ctrl_c_mid_round_then_resume_equals_the_straight_run(
        tiny_scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        algorithm: dict[str, Any]) -> None:
    scenario = tiny_scenario(training={"rounds": 4}, algorithm=algorithm,
                             clients={"count": 6, "per_round": 4},
                             output={"plots": False, "checkpoint_every": 1})
    straight = run_simulation(scenario, RunDirectory.create(tmp_path / "straight"),
                              show_progress=False)

    make_runtime = simulation.create_runtime

    def interrupting_runtime(*args: Any) -> Any:
        runtime = make_runtime(*args)

        def hook(round_idx: int) -> None:
            if round_idx == 3:  # Ctrl-C in the middle of round 3
                raise KeyboardInterrupt

        runtime.round_started_hook = hook
        return runtime

    monkeypatch.setattr(simulation, "create_runtime", interrupting_runtime)
    run = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        run_simulation(scenario, RunDirectory.create(run), show_progress=False)
    monkeypatch.setattr(simulation, "create_runtime", make_runtime)
    checkpoint = read_checkpoint(run)
    assert checkpoint.round == 2  # the last finished round, not the one in flight
    assert not (run / SUMMARY_FILE).exists()

    resumed = run_simulation(scenario, RunDirectory.reopen(run), show_progress=False,
                             resume=checkpoint)
    assert resumed["final"] == straight["final"]
    assert json.dumps(resumed["skew"], sort_keys=True) == json.dumps(straight["skew"],
                                                                     sort_keys=True)
    assert resumed["resumed_from_round"] == 2
    assert metrics(run) == metrics(tmp_path / "straight")
    assert [row["round"] for row in metrics(run)] == [0, 1, 2, 3, 4]


def test_cli_resume_extends_a_finished_run(tmp_path: Path) -> None:
    raw = tiny_scenario_dict(training={"rounds": 4},
                             output={"plots": False, "checkpoint_every": 3})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main([str(path), "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    run = tmp_path / "short"
    assert main([str(path), "--out", str(run), "--quiet", "--set", "training.rounds=2"]) == 0
    assert read_checkpoint(run).round == 2  # the last round is always checkpointed
    assert main(["--resume", str(run), "--quiet", "--set", "training.rounds=4"]) == 0
    final = json.loads((run / SUMMARY_FILE).read_text())["final"]
    assert final == json.loads((tmp_path / "straight" / SUMMARY_FILE).read_text())["final"]
    assert [row["round"] for row in metrics(run)] == [0, 1, 2, 3, 4]
    assert yaml.safe_load((run / "scenario.yaml").read_text())["training"]["rounds"] == 4


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Checkpoint(1, {"name": "x"}, {"server": {}, "personal": {0: {"head": {
        "w": torch.ones(2)}}}}, {"rows": []})
    write_checkpoint(tmp_path, first)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        write_checkpoint(tmp_path, Checkpoint(2, {}, {}, {}))
    kept = read_checkpoint(tmp_path)
    assert kept.round == 1 and torch.equal(kept.runtime["personal"][0]["head"]["w"],
                                           torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    make_runtime = simulation.create_runtime

    def interrupted(*args: Any) -> Any:
        runtime = make_runtime(*args)

        def hook(round_idx: int) -> None:
            if round_idx == 2:
                raise KeyboardInterrupt

        runtime.round_started_hook = hook
        return runtime

    monkeypatch.setattr(simulation, "create_runtime", interrupted)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_scenario_dict(output={"plots": False,
                                                              "checkpoint_every": 5})))
    run = tmp_path / "run"
    assert main([str(path), "--out", str(run), "--quiet"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("interrupted: finished rounds are in metrics.jsonl; continue with: "
                       f"python -m harmony_sim --resume {run}")
    assert read_checkpoint(run).round == 1  # written at Ctrl-C although not due until round 5


def test_personal_states_pack_into_few_tensors_and_back() -> None:
    from harmony_sim.results.checkpoint import pack_personal, unpack_personal

    personal = {cid: {"head": {"w": torch.full((3, 2), float(cid)), "b": torch.ones(3)}}
                for cid in range(5)}
    personal[7] = {"head": {"w": torch.zeros(4, 2), "b": torch.ones(4)}}  # another width
    personal[9] = {}  # trained, nothing personal
    packed = pack_personal(personal)
    assert sum(len(g["tensors"]) for g in packed["packed"]) == 4  # two layouts x two keys
    back = unpack_personal(packed)
    assert sorted(back) == sorted(personal) and back[9] == {}
    for cid, state in personal.items():
        for part, tensors in state.items():
            for key, tensor in tensors.items():
                assert torch.equal(back[cid][part][key], tensor)
                assert back[cid][part][key].untyped_storage().nbytes() == tensor.nbytes
