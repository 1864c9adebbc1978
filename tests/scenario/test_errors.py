"""Every kind of bad scenario input exits 2 with one line naming the field; no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harmony_sim.cli import main
from harmony_sim.errors import UserInputError
from harmony_sim.scenario import Scenario
from harmony_sim.scenario.loading import load_scenario

REPO = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def write(tmp_path: Path, content: dict | str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


@pytest.mark.parametrize(("content", "expected"), [
    ({"training": {"roundz": 3}}, ["training.roundz", "unknown field", "rounds"]),
    ({"bogus": 1}, ["bogus", "unknown field", "training"]),
    ({"training": {"rounds": "many"}}, ["training.rounds", "integer", "'many'"]),
    ({"training": {"rounds": 0}}, ["training.rounds", "greater than or equal to 1"]),
    ({"training": {"lr": -0.1}}, ["training.lr", "greater than 0"]),
    ({"data": {"partition": "random"}}, ["data.partition", "'shards' or 'dirichlet'"]),
    ({"clients": {"count": 5, "per_round": 9}}, ["clients", "per_round (9) exceeds count (5)"]),
    ({"evaluation": {"ood_ratios": [-1]}}, ["evaluation.ood_ratios", "[0, 10]"]),
    ({"data": {"dataset": "imagenet"}}, ["data.dataset", "unknown dataset 'imagenet'", "mnist5k"]),
    ({"model": {"family": "vit"}}, ["model.family", "unknown model family", "plain_cnn"]),
    ({"algorithm": {"name": "fedprox"}}, ["algorithm.name", "unknown algorithm", "splitgp"]),
    ({"clients": {"tiers": [{"name": "a", "share": 1}, {"name": "a", "share": 1}]}},
     ["clients.tiers", "repeated: a"]),
    ("training: [1, 2", ["YAML syntax error", "line"]),
    ("- just\n- a list\n", ["top level must be a mapping"]),
])
def test_bad_scenario_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            content: dict | str, expected: list[str]) -> None:
    path = write(tmp_path, content)
    code, err = run_cli(capsys, path, "--out", str(tmp_path / "run"))
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {path}:")
    for fragment in expected:
        assert fragment in err[0]
    assert not (tmp_path / "run").exists()  # nothing written for a rejected scenario


def test_missing_file_and_bad_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2 and len(err) == 1 and "no such scenario file" in err[0]
    code, err = run_cli(capsys, "--set", "training.rounds")
    assert code == 2 and len(err) == 1 and "expected KEY.PATH=VALUE" in err[0]
    code, err = run_cli(capsys, "--set", "training.rounds=-2")
    assert code == 2 and len(err) == 1 and "training.rounds" in err[0]


def test_overrides_apply_typed_values() -> None:
    scenario = load_scenario(None, ["training.rounds=3", "algorithm.personal.extractor=0.5",
                                    "evaluation.ood_ratios=[0, 1]", "name=custom"])
    assert scenario.training.rounds == 3
    assert scenario.algorithm.personal.extractor == 0.5
    assert scenario.evaluation.ood_ratios == [0.0, 1.0]
    assert scenario.name == "custom"


def test_unquoted_on_off_mean_on_off(tmp_path: Path) -> None:
    """YAML 1.1 reads `vectorise: on` as true: the documented spelling must still work, and
    boolean fields still take on / off / yes / no."""
    path = tmp_path / "s.yaml"
    path.write_text("runtime:\n  vectorise: on\noutput:\n  plots: no\n")
    assert load_scenario(path).runtime.vectorise == "on"
    assert load_scenario(path).output.plots is False
    assert load_scenario(path, ["output.plots=yes"]).output.plots is True
    assert load_scenario(path, ["runtime.vectorise=off"]).runtime.vectorise == "off"
    with pytest.raises(UserInputError, match="runtime.vectorise"):
        load_scenario(path, ["runtime.vectorise=1"])


def test_overrides_index_lists(tmp_path: Path) -> None:
    path = write(tmp_path, {"clients": {"tiers": [{"name": "a", "share": 1},
                                                  {"name": "b", "share": 2}]}})
    scenario = load_scenario(path, ["clients.tiers.1.share=5", "clients.tiers.0.profile=x"])
    assert [t.share for t in scenario.clients.tiers] == [1, 5]
    assert scenario.clients.tiers[0].profile == "x"
    with pytest.raises(UserInputError, match="not an index of a list of 2"):
        load_scenario(path, ["clients.tiers.2.share=1"])


def test_existing_results_are_never_overwritten(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{\"kept\": true}")
    code, err = run_cli(capsys, "--out", str(out))
    assert code == 2 and len(err) == 1 and "already exists and is not empty" in err[0]
    assert (out / "summary.json").read_text() == "{\"kept\": true}"


def test_quickstart_file_is_the_default_scenario() -> None:
    assert load_scenario(REPO / "scenarios" / "quickstart.yaml") == Scenario()


def test_no_traceback_from_the_real_entry_point(tmp_path: Path) -> None:
    path = write(tmp_path, {"model": {"cut_size": 0}})
    proc = subprocess.run([sys.executable, "-m", "harmony_sim", path], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.cut_size" in lines[0] and "Traceback" not in proc.stderr
