"""Vectorised clients (runtime.vectorise: on) train exactly as the same clients in turn: for every
algorithm, on mixed architectures with ragged batches, two rounds give the same global model,
personal weights and reports; also with momentum and weight decay, chunked calls, and the
replica scheme. Run in float64: in float32 the two paths differ by rounding (1e-6) that a few
steps amplify where a GroupNorm meets a dead ReLU's near-zero variance, which would hide a real
difference; in float64 they agree to 1e-12."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from harmony_sim.algorithms import ALGORITHMS, placement, stacking
from harmony_sim.algorithms.grouped import grouped_twin
from harmony_sim.algorithms.vectorised import VectorisedClients
from harmony_sim.data import load_dataset
from harmony_sim.models import ArchSpec, CutSpec, build_exit_head, build_extractor
from harmony_sim.population import build_clients
from harmony_sim.runtime import LocalRuntime
from tests.algorithms.test_algorithms import MIXED_TIERS

TOL = {"rtol": 1e-9, "atol": 1e-11}


@pytest.fixture(autouse=True)
def float64() -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def scenario_with(tiny_scenario, vectorise: str, algo: str, **sections: Any):  # noqa: ANN001, ANN201
    runtime = {"backend": "local", "vectorise": vectorise, **sections.pop("runtime", {})}
    training = {"rounds": 2, "local_epochs": 1, "batch_size": 16, **sections.pop("training", {})}
    return tiny_scenario(clients={"count": 6, "per_round": 6, "tiers": MIXED_TIERS},
                         training=training, runtime=runtime,
                         algorithm={"name": algo, **sections.pop("algorithm", {})},
                         **sections)


def train(scenario, rounds: int = 2):  # noqa: ANN001, ANN201
    dataset = load_dataset(scenario.data, scenario.seed)
    dataset = dataclasses.replace(dataset, train_x=dataset.train_x.astype("float64"),
                                  test_x=dataset.test_x.astype("float64"))
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset))
    reports = [runtime.run_round(r, list(range(scenario.clients.count)))
               for r in range(1, rounds + 1)]
    return runtime, reports


def assert_same_training(tiny_scenario, algo: str, **sections: Any) -> list[Any]:
    seq, seq_reports = train(scenario_with(tiny_scenario, "off", algo, **dict(sections)))
    calls = []
    forward = VectorisedClients.forward
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VectorisedClients, "forward",
                      lambda self, batches: calls.append(len(batches)) or forward(self, batches))
        vec, vec_reports = train(scenario_with(tiny_scenario, "on", algo, **dict(sections)))
    assert calls and max(calls) > 1  # the clients did run stacked
    assert all(p.vectorised is None for p in vec.pools)  # written back after the last step
    a, b = seq.global_model(), vec.global_model()
    assert a.components.keys() == b.components.keys()
    for key, state in a.components.items():
        for name, value in state.items():
            torch.testing.assert_close(b.components[key][name], value, **TOL,
                                       msg=f"{algo}: {key}.{name}")
    for pa, pb in zip(seq.pools, vec.pools, strict=True):
        assert pa.personal.keys() == pb.personal.keys()
        for cid, parts in pa.personal.items():
            for part, state in parts.items():
                for name, value in state.items():
                    torch.testing.assert_close(pb.personal[cid][part][name], value, **TOL)
    for ra, rb in zip(seq_reports, vec_reports, strict=True):
        for x, y in zip(ra, rb, strict=True):
            assert (x.client_id, x.samples, x.batches) == (y.client_id, y.samples, y.batches)
            assert y.exit_loss == pytest.approx(x.exit_loss, rel=1e-4, abs=1e-5)
            assert y.server_loss == pytest.approx(x.server_loss, rel=1e-4, abs=1e-5)
    return seq_reports


@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_vectorised_equals_clients_in_turn(tiny_scenario, name: str) -> None:
    # HARMONY's simulated extractors train here (harmony_frozen_simulated: they do not).
    reports = assert_same_training(tiny_scenario, name)
    # The scenario exercises ragged data: clients take different numbers of batches.
    assert len({r.batches for r in reports[0]}) > 1 or len({r.samples for r in reports[0]}) > 1


def test_vectorised_momentum_weight_decay_and_chunks(tiny_scenario) -> None:
    assert_same_training(tiny_scenario, "splitgp",
                         training={"momentum": 0.9, "weight_decay": 1e-3},
                         runtime={"max_group": 2})


def test_vectorised_harmony_replicas_chunked(tiny_scenario) -> None:
    assert_same_training(tiny_scenario, "harmony", server={"training": "replicas"},
                         runtime={"max_group": 1})


@pytest.mark.parametrize(("family", "width", "depth"), [("plain_cnn", 0.5, 2), ("resnet", 0.5, 2),
                                                      ("mobilenet", 0.5, 2)])
@pytest.mark.parametrize("norm", ["group", "none"])
def test_grouped_twin_equals_vmap(family: str, width: float, depth: int, norm: str) -> None:
    """The grouped form (CPU) of every family's trunk and of the exit head: vmap's outputs and
    gradients."""
    torch.manual_seed(0)
    cut = CutSpec(16, 4)
    for build in (lambda: build_extractor(ArchSpec(family, width, depth), 3, cut, norm),
                  lambda: build_exit_head(cut, 10)):
        stack = stacking.Stack([build() for _ in range(3)], torch.device("cpu"))
        assert stack.grouped is not None, stack.not_grouped
        x = torch.randn(3, 5, 3, 16, 16) if stack.grouped.wide else torch.randn(3, 5, 16, 4, 4)
        outputs = []
        for grouped in (stack.grouped, None):
            stack.grouped = grouped
            leaves = stack.rows(torch.arange(3), requires_grad=True)
            out = stack.call(leaves, x)
            out.square().sum().backward()
            outputs.append((out, [leaf.grad for leaf in leaves.values()]))
        (a, grads_a), (b, grads_b) = outputs
        torch.testing.assert_close(a, b, **TOL)
        for ga, gb in zip(grads_a, grads_b, strict=True):
            torch.testing.assert_close(ga, gb, **TOL)


def test_stacks_share_callables_only_for_the_same_structure() -> None:
    """A Stack's template and grouped twin are built once per structure and process: modules
    whose weights have the same shapes but whose settings differ (here the cut's pooled size)
    are other structures and compute their own shapes."""
    arch = ArchSpec("plain_cnn", 0.5, 1)
    x = torch.randn(2, 3, 3, 16, 16)
    shapes = {}
    for size in (4, 2):
        modules = [build_extractor(arch, 3, CutSpec(16, size)) for _ in range(2)]
        assert stacking.structure_key(modules[0]) == stacking.structure_key(modules[1])
        stack = stacking.Stack(modules, torch.device("cpu"))
        shapes[size] = stack.call(stack.params, x).shape
    assert shapes == {4: (2, 3, 16, 4, 4), 2: (2, 3, 16, 2, 2)}
    one, other = (build_extractor(arch, 3, CutSpec(16, size)) for size in (4, 2))
    assert stacking.structure_key(one) != stacking.structure_key(other)


def test_grouped_twin_says_why_not() -> None:
    assert grouped_twin(build_extractor(ArchSpec("plain_cnn", 0.5, 1), 3, CutSpec(16, 4),
                                        "batch")) == "modules with buffers"
    conv_then_linear = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(),
                                           torch.nn.Linear(4, 2))
    assert "Flatten has no grouped form" in grouped_twin(conv_then_linear)


def test_vectorised_with_vmap_equals_clients_in_turn(tiny_scenario, monkeypatch) -> None:
    """Structures without a grouped form (and cuda) take vmap: the same training too."""
    monkeypatch.setattr(stacking, "grouped_twin", lambda module: "forced vmap")
    assert_same_training(tiny_scenario, "splitgp")


def test_auto_trains_in_turn_on_cpu_and_on_stacks(tiny_scenario, caplog, monkeypatch) -> None:
    """runtime.vectorise auto on CPU: in turn at one pool thread and at two (stacking
    measured slower on CPU); on: stacked, except BatchNorm models (running statistics), which
    train in turn, said once a process."""
    monkeypatch.setattr(placement, "_logged", set())
    calls = []
    forward = VectorisedClients.forward
    monkeypatch.setattr(VectorisedClients, "forward",
                        lambda self, batches: calls.append(len(batches)) or forward(self, batches))
    train(scenario_with(tiny_scenario, "auto", "splitgp"), rounds=1)
    assert not calls
    train(scenario_with(tiny_scenario, "auto", "splitgp",
                        runtime={"threads_per_actor": 2}), rounds=1)
    assert not calls
    train(scenario_with(tiny_scenario, "on", "splitgp"), rounds=1)
    assert calls
    calls.clear()
    with caplog.at_level("WARNING"):
        train(scenario_with(tiny_scenario, "on", "splitgp", model={"norm": "batch"}))
    assert not calls
    assert caplog.text.count("clients trained in turn: modules with buffers") == 1


def test_vectorised_harmony_over_ray_actors(ray_session, tiny_scenario) -> None:  # noqa: ANN001
    """The stacked uploads (views of one tensor) cross actor boundaries like any upload."""
    from harmony_sim.runtime import RayRuntime

    torch.set_default_dtype(torch.float32)
    scenario = scenario_with(tiny_scenario, "on", "harmony",
                             runtime={"backend": "ray", "pool_actors": 2},
                             training={"rounds": 1})
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = RayRuntime(scenario, dataset, build_clients(scenario, dataset))
    try:
        reports = runtime.run_round(1, list(range(6)))
        assert len(reports) == 6 and all(r.batches > 0 for r in reports)
    finally:
        runtime.close()
