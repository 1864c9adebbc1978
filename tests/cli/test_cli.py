"""The command line: subcommands listed in --help, list, config round trip, compare over finished
run folders and a two-point sweep (tiny in-process runs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from harmony_sim.cli import main
from harmony_sim.scenario.loading import load_scenario
from tests.conftest import tiny_scenario_dict

COMMANDS = ("run", "profile", "list", "config", "compare", "sweep")


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command} " in out, command


def test_unknown_command_is_one_line_naming_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lst", "algorithms"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean `list`?" in err[0]
    assert main(["list", "algos"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'algos'" in err[0] and "algorithms" in err[0]


def test_list_algorithms_names_each_with_a_description(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "algorithms"]) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert {"harmony", "splitgp", "fedavg", "harmony_no_meta"} <= set(lines)
    assert lines["splitgp"].startswith("SplitGP")
    assert "ablation" in lines["harmony_no_meta"]


def test_list_scenarios_and_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "scenarios"]) == 0
    lines = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert lines["scenarios/quickstart.yaml"].startswith("Quickstart: SplitGP")
    assert main(["list", "profiles"]) == 0
    assert any(line.startswith("pixel_6a ") and "mid tier" in line
               for line in capsys.readouterr().out.splitlines())


def test_config_prints_yaml_that_loads_back(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "scenarios/quickstart.yaml", "--set", "training.rounds=7",
                 "--set", "algorithm.name=harmony"]) == 0
    printed = capsys.readouterr().out
    saved = tmp_path / "resolved.yaml"
    saved.write_text(printed)
    expected = load_scenario("scenarios/quickstart.yaml",
                             ["training.rounds=7", "algorithm.name=harmony"])
    assert load_scenario(saved) == expected
    assert yaml.safe_load(printed)["training"]["rounds"] == 7


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-point sweep (splitgp, local) of one-round tiny runs, shared by the tests below."""
    root = tmp_path_factory.mktemp("sweep")
    scenario = root / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(tiny_scenario_dict(
        training={"rounds": 1, "local_epochs": 1}, clients={"count": 4, "per_round": 4})))
    out = root / "out"
    assert main(["-q", "sweep", str(scenario), "--grid", "algorithm.name=splitgp,local",
                 "--out", str(out)]) == 0
    return out


def test_sweep_runs_each_grid_point_and_compares(sweep_dir: Path) -> None:
    runs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert runs == ["name-local", "name-splitgp"]
    for run in runs:
        assert (sweep_dir / run / "summary.json").is_file()
    table = json.loads((sweep_dir / "comparison.json").read_text())["table"]
    assert [entry["algorithm.name"] for entry in table] == ["splitgp", "local"]
    assert (sweep_dir / "comparison.png").stat().st_size > 10_000
    local = table[1]
    assert local["server_ood_acc_mean"] is None  # no server: absent, not 0
    assert 0.0 < local["device_id_acc_mean"] <= 1.0


def test_compare_finished_runs_prints_table_and_writes_png(
        sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "scenario.yaml").write_text((sweep_dir / "name-local" / "scenario.yaml")
                                              .read_text())
    out = tmp_path / "cmp"
    assert main(["compare", str(sweep_dir / "name-splitgp"), str(sweep_dir / "name-local"),
                 str(unfinished), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and "unfinished" in printed
    assert "grouped by algorithm.name" in printed
    for name in ("splitgp", "local", "device ID", "hybrid p0.5", "n/a"):
        assert name in printed
    assert (out / "comparison.png").stat().st_size > 10_000
    header = (out / "runs.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["algorithm.name", "seed"]
    assert len((out / "runs.csv").read_text().splitlines()) == 3  # the unfinished one skipped


def test_compare_by_a_field_and_refuses_unknown_fields(
        sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "compare", str(sweep_dir), "--by", "training.lr", "--out",
                 str(tmp_path / "by-lr")]) == 0
    table = json.loads((tmp_path / "by-lr" / "comparison.json").read_text())["table"]
    assert len(table) == 1 and table[0]["runs"] == 2  # both runs share training.lr
    capsys.readouterr()
    assert main(["compare", str(sweep_dir), "--by", "training.lrr"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--by training.lrr: no such field" in err[0]


@pytest.mark.parametrize(("flags", "level"), [([], logging.INFO), (["-v"], logging.DEBUG),
                                              (["-q"], logging.WARNING)])
def test_verbosity_sets_the_log_level_before_or_after_the_command(
        flags: list[str], level: int, capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("harmony_sim")
    for argv in ([*flags, "config"], ["config", *flags]):
        logger.setLevel(logging.NOTSET)
        assert main(argv) == 0
        assert logger.level == level, argv
    capsys.readouterr()
