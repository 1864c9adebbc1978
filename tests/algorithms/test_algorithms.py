"""Every registered algorithm trains 2 rounds on a tiny mixed-architecture scenario; HARMONY's
private labels never reach the server; its contrastive loss learns; supernets round-trip."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from harmony_sim.aggregation import UpdateAccumulator, slice_state
from harmony_sim.algorithms import ALGORITHMS
from harmony_sim.algorithms.contrastive import build_projection
from harmony_sim.algorithms.split_protocol import (
    BACKEND,
    PROJECTION,
    ContrastiveAlignment,
    CutUpload,
    ServerTrainer,
)
from harmony_sim.data import load_dataset
from harmony_sim.models import ArchSpec, CutSpec, build_extractor, build_server_backend
from harmony_sim.population import build_clients
from harmony_sim.runtime import LocalRuntime

MIXED_TIERS: list[dict[str, Any]] = [
    {"name": "small", "share": 1, "arch": {"family": "plain_cnn", "width": 0.25, "depth": 1}},
    {"name": "mid", "share": 1, "arch": {"family": "plain_cnn", "width": 0.5, "depth": 2}},
    {"name": "big", "share": 1, "arch": {"family": "resnet", "width": 0.5, "depth": 1}},
]


def mixed(tiny_scenario, algorithm: str, **fields: Any):  # noqa: ANN001, ANN201
    return tiny_scenario(clients={"count": 6, "per_round": 6, "tiers": MIXED_TIERS},
                         training={"rounds": 2, "local_epochs": 1},
                         algorithm={"name": algorithm, **fields})


def run_rounds(scenario, rounds: int = 2, record: bool = False):  # noqa: ANN001, ANN201
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset),
                           record_server_messages=record)
    reports = [runtime.run_round(r, list(range(scenario.clients.count)))
               for r in range(1, rounds + 1)]
    return runtime, reports


@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_algorithm_trains_two_rounds(tiny_scenario, name: str) -> None:
    scenario = mixed(tiny_scenario, name)
    runtime, reports = run_rounds(scenario)
    before = LocalRuntime(scenario, load_dataset(scenario.data, 0),
                          build_clients(scenario, load_dataset(scenario.data, 0))).global_model()
    after = runtime.global_model()
    assert after.round == 2
    assert all(r.samples > 0 and math.isfinite(r.exit_loss) for rs in reports for r in rs)
    changed = [k for k in after.components
               if any(not torch.equal(v, before.components[k][n])
                      for n, v in after.components[k].items())]
    if name == "local":
        assert changed == []  # nothing leaves the device
    else:
        assert changed
    evals = runtime.evaluate(list(range(6)))
    assert len(evals) == 6
    algo = ALGORITHMS.get(name)(scenario.algorithm, runtime.pools[0].algorithm.run)
    assert (evals[0].server_pred is None) == (not algo.uses_server)
    assert (evals[0].exit_pred is None) == (not algo.has_exit)


def test_private_labels_never_reach_the_server(tiny_scenario) -> None:
    runtime, _ = run_rounds(mixed(tiny_scenario, "harmony"), rounds=1, record=True)
    messages = runtime.received_server_messages()
    assert {m.kind for m in messages} == {"cut", "logit-grads"}
    for message in messages:
        assert "labels" not in message.tensors
        assert all(dtype.startswith("torch.float") for dtype, _ in message.tensors.values())
    # The shared-label ablation does send labels, through the same recorder.
    runtime, _ = run_rounds(mixed(tiny_scenario, "harmony", labels="shared"), rounds=1,
                            record=True)
    assert {m.kind for m in runtime.received_server_messages()} == {"cut+labels"}


def test_contrastive_loss_falls_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    cut = CutSpec(8, 2)
    modules = torch.nn.ModuleDict({BACKEND: build_server_backend(cut, 10),
                                   PROJECTION: build_projection(cut, 16)})
    # queue_size 0 keeps the negatives fixed (the step's other clients only): the loss on the
    # same batch must fall as the projection learns to align the two views.
    trainer = ServerTrainer(modules, torch.optim.SGD(modules.parameters(), lr=0.1),
                            contrastive=ContrastiveAlignment(1.0, 0.2, 0))
    labels = torch.randint(0, 10, (16,))
    uploads = []
    for cid in range(2):
        own = torch.randn(16, *cut.shape)
        views = torch.cat([own, own + 0.5 * torch.randn_like(own)])  # same inputs, other extractor
        uploads.append(CutUpload(cid, views, 2, labels))
    losses = []
    for _ in range(30):
        before = trainer.contrastive_sum
        trainer.step(uploads)
        losses.append(trainer.contrastive_sum - before)
    assert losses[-1] < 0.5 * losses[0]


def test_supernet_slice_update_merge_round_trip() -> None:
    """A client's slice of the supernet, updated, merges back into exactly its window; other
    entries keep the supernet's values, and slicing the merge gives the update back."""
    torch.manual_seed(0)
    supernet = build_extractor(ArchSpec("resnet", 1.0, 2), 1, CutSpec(8, 2)).state_dict()
    small_model = build_extractor(ArchSpec("resnet", 0.5, 1), 1, CutSpec(8, 2))
    small = slice_state(supernet, small_model.state_dict())
    updated = {k: v + 1.0 if v.is_floating_point() else v for k, v in small.items()}
    updates = UpdateAccumulator()
    updates.add("supernet/resnet", updated, 3.0, supernet)
    merged = updates.average_into({"supernet/resnet": supernet})["supernet/resnet"]
    for key, value in merged.items():
        if not value.is_floating_point():
            continue
        if key in small:
            window = tuple(slice(0, n) for n in small[key].shape)
            assert torch.allclose(value[window], updated[key])
            mask = torch.ones_like(value, dtype=torch.bool)
            mask[window] = False
            assert torch.equal(value[mask], supernet[key][mask])
        else:
            assert torch.equal(value, supernet[key])  # deeper blocks: untouched
    assert all(torch.allclose(slice_state(merged, small)[k], updated[k]) for k in small)


def test_run_summary_reports_skew(tiny_scenario, tmp_path) -> None:  # noqa: ANN001
    from harmony_sim.results import RunDirectory
    from harmony_sim.simulation import run_simulation

    scenario = mixed(tiny_scenario, "harmony")
    summary = run_simulation(scenario, RunDirectory.create(tmp_path / "run"),
                             show_progress=False)
    skew = summary["skew"]
    assert skew["cross_arch_pairs"] > 0
    assert 0.0 <= skew["skew"] <= 2.0 and 0.0 <= skew["cut_cka"] <= 1.0 + 1e-6
    assert {"server_ood_acc[plain_cnn-w0.25-d1]", "server_ood_acc_arch_spread"} <= set(skew)


@pytest.mark.parametrize("train_simulated", [False, True])
def test_trained_simulated_extractors_teach_other_families(tiny_scenario,
                                                           train_simulated: bool) -> None:
    """Only plain_cnn clients take part; with cross-family simulated extractors that train, the
    resnet supernet learns from them, and without training it stays as it was."""
    scenario = mixed(tiny_scenario, "harmony", cross_family=True, simulated_extractors=2,
                     train_simulated=train_simulated)
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)
    runtime = LocalRuntime(scenario, dataset, clients)
    before = runtime.global_model().components["supernet/resnet"]
    plain = [c.client_id for c in clients if c.arch.family == "plain_cnn"]
    reports = runtime.run_round(1, plain)
    after = runtime.global_model().components["supernet/resnet"]
    changed = any(not torch.equal(v, before[k]) for k, v in after.items())
    assert changed == train_simulated
    if train_simulated:  # the simulated views' gradients come down the link as well
        frozen = mixed(tiny_scenario, "harmony", cross_family=True, simulated_extractors=2,
                       train_simulated=False)
        frozen_reports = LocalRuntime(frozen, dataset, build_clients(frozen, dataset)).run_round(
            1, plain)
        assert (sum(r.downlink_bytes for r in reports)
                > sum(r.downlink_bytes for r in frozen_reports))


def test_local_clients_keep_their_extractor_between_rounds(tiny_scenario) -> None:
    """Local-only: every part is personal, so a client's second round starts from its own
    trained extractor, not from the shared initialisation."""
    runtime, _ = run_rounds(mixed(tiny_scenario, "local"), rounds=1)
    pool = runtime.pools[0]
    cid = sorted(pool.personal)[0]
    assert set(pool.personal[cid]) == {"extractor", "head"}
    client = pool.clients[cid]
    models = pool.algorithm.client_models(client.arch, runtime.global_model(),
                                          pool._personal(cid), cid)
    for name, value in models.extractor.state_dict().items():
        torch.testing.assert_close(value, pool.personal[cid]["extractor"][name])
