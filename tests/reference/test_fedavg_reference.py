"""Reference: `fedavg` against a small bare-torch FedAvg written here from the paper's definition
(McMahan et al., 2017): every client starts from the global model, runs plain SGD over its own
mini-batches, and the server takes the sample-weighted mean of the clients' weights. It shares
with the simulator only the data, the initial weights, the documented batch-order stream
(harmony_sim.seeding: ("batches", client, round)) and the documented CPU memory layout
(harmony_sim.models.place): tens of SGD steps of this tiny model amplify the rounding differences
between NCHW and channels_last kernels (1e-7 at first) past any tolerance that would still catch
a mistake. So a drift in the training loop, the loss, the optimiser or the aggregation shows up
here."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from harmony_sim.data import load_dataset
from harmony_sim.models import CutSpec, build_extractor, build_server_backend, place
from harmony_sim.population import build_clients
from harmony_sim.runtime.backends import LocalRuntime
from harmony_sim.seeding import torch_generator

LR = 0.05


def _scenario(tiny_scenario, clients: int, rounds: int, epochs: int):
    return tiny_scenario(clients={"count": clients, "per_round": clients},
                         training={"rounds": rounds, "local_epochs": epochs, "batch_size": 16,
                                   "lr": LR, "momentum": 0.0, "weight_decay": 0.0},
                         algorithm={"name": "fedavg"})


def _batches(x, y, seed: int, client_id: int, round_idx: int, epochs: int, batch: int):
    generator = torch_generator(seed, "batches", client_id, round_idx)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch):
            chosen = order[start:start + batch]
            if len(chosen) > 1:  # the simulator skips a lone last sample (documented)
                yield x[chosen], y[chosen]


def _bare_fedavg(scenario, dataset, clients, initial: dict[str, dict[str, torch.Tensor]],
                 rounds: int, weighted: bool = True) -> nn.Sequential:
    m = scenario.model
    cut = CutSpec(m.cut_channels, m.cut_size)
    arch = clients[0].arch
    model = place(nn.Sequential(build_extractor(arch, dataset.input_shape[0], cut, m.norm),
                                build_server_backend(cut, dataset.num_classes, m.norm)),
                  torch.device("cpu"))
    model[0].load_state_dict(initial[f"extractor/{arch.id}"])
    model[1].load_state_dict(initial[f"head/{arch.id}"])
    t = scenario.training
    for round_idx in range(1, rounds + 1):
        states, weights = [], []
        for client in clients:
            local = copy.deepcopy(model)
            optimizer = torch.optim.SGD(local.parameters(), lr=t.lr)
            idx = torch.from_numpy(client.data.train_idx).long()
            x = torch.from_numpy(dataset.train_x)[idx]
            y = torch.from_numpy(dataset.train_y)[idx].long()
            for bx, by in _batches(x, y, scenario.seed, client.client_id, round_idx,
                                   t.local_epochs, t.batch_size):
                optimizer.zero_grad()
                F.cross_entropy(local(bx), by).backward()
                optimizer.step()
            states.append(local.state_dict())
            weights.append(float(len(y)) if weighted else 1.0)
        total = sum(weights)
        model.load_state_dict({k: sum(w * s[k] for w, s in zip(weights, states, strict=True))
                               / total for k in states[0]})
    return model


def _simulate(scenario):
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)
    runtime = LocalRuntime(scenario, dataset, clients)
    initial = copy.deepcopy(runtime.global_model().components)
    for round_idx in range(1, scenario.training.rounds + 1):
        runtime.run_round(round_idx, [c.client_id for c in clients])
    return dataset, clients, initial, runtime.global_model().components


def _assert_same(actual: dict[str, dict[str, torch.Tensor]], model: nn.Sequential,
                 arch_id: str) -> None:
    for part, prefix in ((model[0], "extractor"), (model[1], "head")):
        expected = part.state_dict()
        got = actual[f"{prefix}/{arch_id}"]
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, atol=2e-5, rtol=1e-4,
                                       msg=f"{prefix}.{key}")


def test_fedavg_with_one_client_is_plain_local_sgd(tiny_scenario):
    scenario = _scenario(tiny_scenario, clients=1, rounds=1, epochs=2)
    dataset, clients, initial, after = _simulate(scenario)
    _assert_same(after, _bare_fedavg(scenario, dataset, clients, initial, rounds=1),
                 clients[0].arch.id)


def test_fedavg_matches_a_bare_torch_fedavg(tiny_scenario):
    scenario = _scenario(tiny_scenario, clients=4, rounds=2, epochs=1)
    dataset, clients, initial, after = _simulate(scenario)
    _assert_same(after, _bare_fedavg(scenario, dataset, clients, initial, rounds=2),
                 clients[0].arch.id)


def test_the_fedavg_reference_can_fail(tiny_scenario):
    """An unweighted mean instead of the sample-weighted one is caught (the clients' sample
    counts differ), so the comparison above is not vacuous."""
    scenario = _scenario(tiny_scenario, clients=4, rounds=1, epochs=1)
    dataset, clients, initial, after = _simulate(scenario)
    assert len({len(c.data.train_idx) for c in clients}) > 1
    with pytest.raises(AssertionError):
        _assert_same(after, _bare_fedavg(scenario, dataset, clients, initial, rounds=1,
                                         weighted=False), clients[0].arch.id)
