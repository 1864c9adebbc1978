"""Reference: one lockstep round of SplitFed with full participation and one batch per client
equals one centralised SGD step of extractor + back end on the concatenated batch."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from harmony_sim.data import load_dataset
from harmony_sim.models import ArchSpec, CutSpec, build_extractor, build_server_backend
from harmony_sim.population import build_clients
from harmony_sim.runtime.backends import LocalRuntime

LR = 0.1


def _round_against_centralised(tiny_scenario, **sections):
    scenario = tiny_scenario(
        clients={"count": 4, "per_round": 4},
        training={"rounds": 1, "local_epochs": 1, "batch_size": 4096, "lr": LR,
                  "momentum": 0.0, "weight_decay": 0.0},
        **sections)
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)
    runtime = LocalRuntime(scenario, dataset, clients)
    before = runtime.global_model().components
    runtime.run_round(1, [c.client_id for c in clients])
    after = runtime.global_model().components

    # The independent reference: one model, one SGD step on every client's samples at once.
    m = scenario.model
    cut = CutSpec(m.cut_channels, m.cut_size)
    arch = ArchSpec(m.family, m.width, m.depth)
    extractor = build_extractor(arch, dataset.input_shape[0], cut, m.norm)
    backend = build_server_backend(cut, dataset.num_classes, m.norm)
    extractor.load_state_dict(before[f"extractor/{arch.id}"])
    backend.load_state_dict(before["server"])
    idx = torch.cat([torch.from_numpy(c.data.train_idx).long() for c in clients])
    x = torch.from_numpy(dataset.train_x)[idx]
    y = torch.from_numpy(dataset.train_y)[idx].long()
    optimizer = torch.optim.SGD([*extractor.parameters(), *backend.parameters()], lr=LR)
    F.cross_entropy(backend(extractor(x)), y).backward()
    optimizer.step()
    return after, arch, extractor, backend


def _assert_state_close(actual, module, atol=1e-5):
    expected = module.state_dict()
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, atol=atol, rtol=1e-4, msg=key)


def test_lockstep_sfl_round_is_one_centralised_step(tiny_scenario):
    after, arch, extractor, backend = _round_against_centralised(
        tiny_scenario, algorithm={"name": "sfl"})
    _assert_state_close(after["server"], backend)
    _assert_state_close(after[f"extractor/{arch.id}"], extractor)


def test_replicas_agree_on_a_single_step(tiny_scenario):
    """With one plain-SGD step per client, averaging per-client replicas (weighted by samples) is
    linear in the gradients, so the replica scheme matches the same reference; the schemes part
    from the second step on, where each replica has moved on its own clients' data only."""
    after, _, _, backend = _round_against_centralised(
        tiny_scenario, algorithm={"name": "sfl"}, server={"training": "replicas"})
    _assert_state_close(after["server"], backend)


def test_the_reference_can_fail(tiny_scenario):
    """A back end stepped 10 % too far is caught: the tolerance is tight enough to matter."""
    after, _, _, backend = _round_against_centralised(
        tiny_scenario, algorithm={"name": "sfl"}, server={"lr": LR * 1.1})
    with pytest.raises(AssertionError):
        _assert_state_close(after["server"], backend)
