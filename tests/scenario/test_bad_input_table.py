"""Malformed input of every kind: exit 2, one line that names the field (or file, or option)
and the fix, no traceback, and nothing on disk changed (no run folder left behind)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harmony_sim.cli import main
from harmony_sim.results.checkpoint import CHECKPOINT_FILE, Checkpoint, write_checkpoint
from harmony_sim.scenario.loading import scenario_from_dict
from tests.conftest import tiny_scenario_dict

Args = Callable[[Path], list[str]]


def scenario_file(content: dict | str | bytes, name: str = "s.yaml") -> Args:
    """A scenario file with this content, run with --out <tmp>/run."""
    def build(tmp: Path) -> list[str]:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        return [str(path), "--out", str(tmp / "run")]
    return build


def tiny(**sections: object) -> Args:
    return scenario_file(tiny_scenario_dict(**sections))


def with_file(name: str, text: str, make: Callable[[Path], Args]) -> Args:
    """Write a helper file (a profile, a trace) first; `make(path)` builds the arguments."""
    def build(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_text(text)
        return make(path)(tmp)
    return build


def cli(*args: str) -> Args:
    return lambda tmp: [a.replace("{tmp}", str(tmp)) for a in args]


def run_dir(checkpoint: str = "valid", scenario: bool = True) -> Callable[[Path], Path]:
    """A finished-looking run directory for --resume cases (no simulation needed)."""
    def make(tmp: Path) -> Path:
        run = tmp / "old-run"
        run.mkdir()
        raw = tiny_scenario_dict()
        if scenario:
            (run / "scenario.yaml").write_text(yaml.safe_dump(raw))
        if checkpoint == "valid":
            resolved = scenario_from_dict(raw).model_dump(mode="json", by_alias=True)
            write_checkpoint(run, Checkpoint(2, resolved, {"server": {}, "personal": {}},
                                             {"rows": []}))
        elif checkpoint == "garbage":
            (run / CHECKPOINT_FILE).write_bytes(b"\x00\x01 not a checkpoint")
        elif checkpoint == "foreign":
            import torch

            torch.save({"weights": torch.zeros(2)}, run / CHECKPOINT_FILE)
        return run
    return make


def resume(make: Callable[[Path], Path], *extra: str) -> Args:
    return lambda tmp: ["--resume", str(make(tmp)), *extra]


TRACE_OK_HEADER = "round,client_id,online\n"

CASES: list[tuple[str, Args, list[str]]] = [
    # -- the scenario file itself
    ("yaml-syntax", scenario_file("training: [1, 2"), ["YAML syntax error", "line"]),
    ("yaml-tab-indent", scenario_file("training:\n\trounds: 2\n"), ["YAML syntax error"]),
    ("top-level-list", scenario_file("- a\n- b\n"), ["top level must be a mapping"]),
    ("top-level-scalar", scenario_file("42\n"), ["top level must be a mapping"]),
    ("empty-file", scenario_file(""), ["the file is empty", "quickstart"]),
    ("only-comments", scenario_file("# nothing\n"), ["the file is empty"]),
    ("binary-garbage", scenario_file(b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage"),
     ["not a text file", "YAML"]),
    ("a-directory", cli("{tmp}", "--out", "{tmp}/run"), ["is a folder", "YAML file"]),
    ("missing-file", cli("{tmp}/nope.yaml", "--out", "{tmp}/run"), ["no such scenario file"]),
    # -- schema: unknown keys, types, ranges, cross-field rules
    ("unknown-top-key", scenario_file({"bogus": 1}), ["bogus", "unknown field", "training"]),
    ("unknown-nested-key", scenario_file({"training": {"roundz": 3}}),
     ["training.roundz", "unknown field", "rounds"]),
    ("unknown-runtime-key", scenario_file({"runtime": {"on_failure": "rerun"}}),
     ["runtime.on_failure", "unknown field", "on_actor_failure"]),
    ("type-rounds", scenario_file({"training": {"rounds": "many"}}),
     ["training.rounds", "integer"]),
    ("type-section", scenario_file({"training": 5}), ["training", "dictionary"]),
    ("range-rounds", scenario_file({"training": {"rounds": 0}}),
     ["training.rounds", "greater than or equal to 1"]),
    ("range-lr", scenario_file({"training": {"lr": -0.1}}), ["training.lr", "greater than 0"]),
    ("range-checkpoint-every", scenario_file({"output": {"checkpoint_every": -1}}),
     ["output.checkpoint_every", "greater than or equal to 0"]),
    ("literal-failure-policy", scenario_file({"runtime": {"on_actor_failure": "retry"}}),
     ["runtime.on_actor_failure", "'rerun', 'drop' or 'fail'"]),
    ("literal-partition", scenario_file({"data": {"partition": "random"}}),
     ["data.partition", "'shards' or 'dirichlet'"]),
    ("per-round-over-count", scenario_file({"clients": {"count": 5, "per_round": 9}}),
     ["clients", "per_round (9) exceeds count (5)"]),
    ("ood-ratio-range", scenario_file({"evaluation": {"ood_ratios": [-1]}}),
     ["evaluation.ood_ratios", "[0, 10]"]),
    # -- registered names
    ("unknown-dataset", scenario_file({"data": {"dataset": "imagenet"}}),
     ["data.dataset", "unknown dataset 'imagenet'", "mnist5k"]),
    ("unknown-algorithm", scenario_file({"algorithm": {"name": "fedprox"}}),
     ["algorithm.name", "unknown algorithm", "splitgp"]),
    ("unknown-family", scenario_file({"model": {"family": "vit"}}),
     ["model.family", "unknown model family", "plain_cnn"]),
    ("unknown-tier-family", scenario_file({"clients": {"tiers": [
        {"name": "a", "share": 1, "arch": {"family": "vit"}}]}}),
     ["clients.tiers.0.arch.family", "unknown model family"]),
    # -- device profiles
    ("unknown-profile", tiny(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "a", "share": 1, "profile": "nokia_3310"}]}),
     ["clients.tiers.0.profile", "'nokia_3310' not found", "raspberry_pi_4"]),
    ("missing-profile-file", tiny(clients={"count": 6, "per_round": 6, "tiers": [
        {"name": "a", "share": 1, "profile": "/nonexistent/dev.yaml"}]}),
     ["clients.tiers.0.profile", "cannot read profile"]),
    ("broken-profile-yaml", with_file("dev.yaml", "name: dev\ntier: [low\n", lambda p: tiny(
        clients={"count": 6, "per_round": 6, "tiers": [
            {"name": "a", "share": 1, "profile": str(p)}]})),
     ["clients.tiers.0.profile", "YAML syntax error"]),
    ("invalid-profile-field", with_file("dev.yaml", yaml.safe_dump({
        "name": "dev", "tier": "low", "compute_gflops": -1, "cpu_cores": 1, "memory_mb": 100,
        "uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1}), lambda p: tiny(
        clients={"count": 6, "per_round": 6, "tiers": [
            {"name": "a", "share": 1, "profile": str(p)}]})),
     ["clients.tiers.0.profile", "compute_gflops", "greater than 0"]),
    ("unknown-host-profile", tiny(clients={"count": 6, "per_round": 6,
                                           "selection": {"host_profile": "cray_1"}}),
     ["clients.selection.host_profile", "'cray_1' not found"]),
    ("inference-without-tiers", tiny(inference={"enabled": True}),
     ["inference.enabled", "clients.tiers"]),
    # -- data
    ("cifar10-without-root", tiny(data={"dataset": "cifar10"}), ["data.root", "set data.root"]),
    ("cifar10-missing-root", lambda tmp: tiny(data={"dataset": "cifar10",
                                                    "root": str(tmp / "no-data")})(tmp),
     ["data.root", "data.download: true"]),
    # -- participation trace
    ("trace-missing-file", tiny(participation={"trace": "/nonexistent/trace.csv"}),
     ["participation.trace", "cannot read", "fix the path"]),
    ("trace-bad-header", with_file("t.csv", "r,c,o\n1,0,1\n", lambda p: tiny(
        participation={"trace": str(p)})), ["participation.trace", "round,client_id,online"]),
    ("trace-bad-value", with_file("t.csv", TRACE_OK_HEADER + "1,zero,1\n", lambda p: tiny(
        participation={"trace": str(p)})), ["participation.trace", "line 2", "integers"]),
    # -- --set
    ("set-without-equals", cli("--set", "training.rounds", "--out", "{tmp}/run"),
     ["--set 'training.rounds'", "expected KEY.PATH=VALUE"]),
    ("set-empty-key", cli("--set", "=3", "--out", "{tmp}/run"), ["expected KEY.PATH=VALUE"]),
    ("set-into-a-value", lambda tmp: [*tiny()(tmp), "--set", "training.rounds.x=1"],
     ["'rounds' is a value, not a section"]),
    ("set-list-index", lambda tmp: [*tiny()(tmp), "--set", "evaluation.ood_ratios.7=1"],
     ["not an index of a list of 3"]),
    ("set-bad-value", cli("--set", "training.rounds=-2", "--out", "{tmp}/run"),
     ["training.rounds", "greater than or equal to 1"]),
    ("set-unknown-field", cli("--set", "training.epochs=2", "--out", "{tmp}/run"),
     ["training.epochs", "unknown field"]),
    # -- --out
    ("out-is-a-file", lambda tmp: (tmp / "f.txt").write_text("x") and
     [*tiny()(tmp)[:1], "--out", str(tmp / "f.txt")], ["--out", "is a file"]),
    ("out-under-a-file", lambda tmp: (tmp / "f.txt").write_text("x") and
     [*tiny()(tmp)[:1], "--out", str(tmp / "f.txt" / "run")], ["--out", "is a file, not a"]),
    ("out-unwritable", lambda tmp: [*tiny()(tmp)[:1], "--out", "/proc/harmony-sim-test/run"],
     ["--out", "cannot create it", "writable folder"]),
    ("out-not-empty", lambda tmp: (tmp / "run").mkdir() or (tmp / "run" / "keep").write_text(
        "x") and [*tiny()(tmp)[:1], "--out", str(tmp / "run")],
     ["already exists and is not empty"]),
    # -- Ray address
    ("dead-address", cli("--address", "127.0.0.1:1", "--out", "{tmp}/run"),
     ["runtime.address", "cannot reach a Ray cluster", "drop --address"]),
    ("address-bad-port", cli("--address", "localhost:port", "--out", "{tmp}/run"),
     ["runtime.address", "check HOST:PORT"]),
    # -- --resume targets
    ("resume-missing", cli("--resume", "{tmp}/nowhere"), ["--resume", "no such run directory"]),
    ("resume-a-file", lambda tmp: (tmp / "f.txt").write_text("x") and
     ["--resume", str(tmp / "f.txt")], ["--resume", "is a file, not a run directory"]),
    ("resume-not-a-run", resume(run_dir("none", scenario=False)), ["no scenario.yaml there"]),
    ("resume-no-checkpoint", resume(run_dir("none")), ["no checkpoint.pt there"]),
    ("resume-garbage-checkpoint", resume(run_dir("garbage")), ["unreadable or truncated"]),
    ("resume-foreign-checkpoint", resume(run_dir("foreign")),
     ["not a harmony_sim checkpoint"]),
    ("resume-changed-seed", resume(run_dir(), "--set", "seed=3"),
     ["--set seed", "cannot change on --resume", "training.rounds"]),
    ("resume-fewer-rounds", resume(run_dir(), "--set", "training.rounds=1"),
     ["training.rounds=1", "at least 2"]),
    ("resume-with-scenario", lambda tmp: ["--resume", str(run_dir()(tmp)), *tiny()(tmp)[:1]],
     ["--resume DIR", "drop the scenario"]),
    # -- the command line itself
    ("unknown-option", cli("--bogus"), ["unrecognized arguments: --bogus", "--help"]),
]


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0,
                                      p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 35
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("args", "expected"), [pytest.param(a, e, id=n) for n, a, e in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        args: Args, expected: list[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a default results/ folder would appear here
    argv = args(tmp_path)
    capsys.readouterr()
    before = tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and "Traceback" not in err[0]
    for fragment in expected:
        assert fragment in err[0], (fragment, err[0])
    assert tree(tmp_path) == before  # nothing created, removed or rewritten
