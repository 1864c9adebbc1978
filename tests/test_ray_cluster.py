"""A two-node Ray cluster (ray.cluster_utils.Cluster): `--address` joins it, the run completes,
and pool actors spread over both nodes. Runs in a subprocess, since this test session may already
hold its own Ray instance and a process can only be connected to one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ray")

SCRIPT = textwrap.dedent('''
    import json, sys
    from pathlib import Path

    import ray
    import yaml
    from ray.cluster_utils import Cluster

    from harmony_sim.cli import main
    from harmony_sim.data import load_dataset
    from harmony_sim.population import build_clients
    from harmony_sim.results import RunDirectory
    from harmony_sim.runtime import RayRuntime
    from harmony_sim.scenario.loading import scenario_from_dict
    from harmony_sim.simulation import run_simulation

    out = Path(sys.argv[1])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4})
    cluster.add_node(num_cpus=4)
    cluster.wait_for_nodes()
    try:
        raw = json.loads(sys.argv[2])
        # 1. The CLI flag joins the cluster and runs (and leaves the cluster running).
        scenario_file = out / "scenario.yaml"
        scenario_file.write_text(yaml.safe_dump(raw))
        code = main([str(scenario_file), "--address", cluster.address, "--quiet",
                     "--out", str(out / "cli-run")])
        assert not ray.is_initialized()
        # 2. Where do the pools run? Join with the runtime.address field this time.
        raw["runtime"]["address"] = cluster.address
        scenario = scenario_from_dict(raw)
        dataset = load_dataset(scenario.data, scenario.seed)
        runtime = RayRuntime(scenario, dataset, build_clients(scenario, dataset))
        try:
            nodes = runtime.pool_nodes()
            cluster_nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
            summary = run_simulation(scenario, RunDirectory.create(out / "run"),
                                     show_progress=False, runtime=runtime)
        finally:
            runtime.close()
        print("RESULT " + json.dumps({"code": code, "pool_nodes": nodes,
                                      "cluster_nodes": cluster_nodes,
                                      "rounds": summary["rounds"]}))
    finally:
        ray.shutdown()
        cluster.shutdown()
''')


def test_two_node_cluster_spreads_pools(tiny_scenario, tmp_path: Path) -> None:
    from tests.conftest import tiny_scenario_dict

    raw = tiny_scenario_dict(clients={"count": 8, "per_round": 4}, training={"rounds": 2},
                             runtime={"backend": "ray", "pool_actors": 2})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(raw)],
                          capture_output=True, text=True, timeout=120, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["code"] == 0
    assert result["rounds"] == 2
    assert len(result["cluster_nodes"]) == 2
    assert sorted(result["pool_nodes"]) == result["cluster_nodes"]  # one pool on each node
    assert (tmp_path / "cli-run" / "summary.json").is_file()
    assert (tmp_path / "run" / "rounds.csv").is_file()
