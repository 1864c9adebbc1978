"""Scale bookkeeping of the pools: compact personal weights, memory accounting, GPU shares and
candidate draws that never repeat a client."""

from __future__ import annotations

import itertools

import pytest
import torch

from harmony_sim.data import load_dataset
from harmony_sim.participation import candidate_order
from harmony_sim.population import build_clients
from harmony_sim.runtime import ClientPool
from harmony_sim.runtime.backends import actor_gpus


def _pool(scenario):
    dataset = load_dataset(scenario.data, scenario.seed)
    clients = build_clients(scenario, dataset)
    pool = ClientPool(scenario, dataset, clients, {c.arch for c in clients})
    server = pool.algorithm.init_global({c.arch for c in clients})
    return pool, server


@pytest.mark.parametrize("dtype,size", [("float32", 4), ("float16", 2)])
def test_personal_weights_kept_only_for_trained_clients(tiny_scenario, dtype, size):
    pool, model = _pool(tiny_scenario(runtime={"backend": "local", "personal_dtype": dtype},
                                      algorithm={"personal": {"head": 1.0, "extractor": 0.2}}))
    before = pool.memory_bytes()
    assert before["clients"] == 6 and before["trained_clients"] == 0
    assert before["personal_bytes"] == 0 and before["index_bytes"] > 0
    result = pool.train_round(1, [1, 4], model)
    assert [r.client_id for r in result.reports] == [1, 4]
    after = pool.memory_bytes()
    assert after["trained_clients"] == 2
    params = sum(t.numel() for t in pool.personal[1]["extractor"].values()
                 if t.is_floating_point())
    params += sum(t.numel() for t in pool.personal[1]["head"].values())
    assert after["personal_bytes"] == 2 * params * size
    for tensors in pool.personal[1].values():
        assert all(t.dtype == getattr(torch, dtype) for t in tensors.values()
                   if t.is_floating_point())
    # a half-stored client trains again from float32 weights
    again = pool.train_round(2, [1], model)
    assert torch.isfinite(torch.tensor(again.reports[0].exit_loss))


def test_actor_gpu_share():
    assert actor_gpus(None, 0.0, 4) == 0.0  # CPU-only: no GPU request at all
    assert actor_gpus(None, 1.0, 3) == 0.25  # 3 pools + the server share one GPU
    assert actor_gpus(None, 8.0, 2) == 1.0  # never more than one GPU per actor
    assert actor_gpus(0.5, 0.0, 4) == 0.5  # configured value wins


@pytest.mark.parametrize("count,needed", [(10, 4), (1000, 5), (50, 3)])
def test_candidate_order_is_a_permutation(count, needed):
    order = list(candidate_order(7, 3, count, needed))
    assert sorted(order) == list(range(count))
    assert order == list(candidate_order(7, 3, count, needed))  # seeded
    assert order != list(candidate_order(7, 4, count, needed))  # per round


def test_candidate_order_is_lazy():
    """Drawing the first few candidates of a million clients touches only a few ids."""
    first = list(itertools.islice(candidate_order(0, 1, 1_000_000, 10), 10))
    assert len(set(first)) == 10


def test_unreachable_address_is_a_one_line_error():
    import socket

    from harmony_sim.errors import UserInputError
    from harmony_sim.runtime.backends import check_reachable

    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserInputError, match="runtime.address: cannot reach"):
        check_reachable(f"127.0.0.1:{port}")
    check_reachable("auto")  # left to Ray


def test_only_parts_with_a_personal_share_are_kept(tiny_scenario):
    """The default keeps the exit head personal and the extractor global: only the head is
    stored per client."""
    pool, model = _pool(tiny_scenario())
    pool.train_round(1, [2], model)
    assert set(pool.personal[2]) == {"head"}
