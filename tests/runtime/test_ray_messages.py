"""What a Ray step message carries: each client's own rows, not the storage they are views of."""

from __future__ import annotations

import pickle

import torch

from harmony_sim.algorithms.split_protocol import CutGradient
from harmony_sim.runtime.ray_actors import _own_answer, own


def test_a_view_is_copied_out_and_a_whole_tensor_kept() -> None:
    stacked = torch.randn(100, 32, 10)  # one stacked call's cuts (clients, batch, ...)
    row = stacked[3]
    assert len(pickle.dumps(row)) > 50 * len(pickle.dumps(row.clone()))  # the whole storage
    mine = own(row)
    assert mine is not None and torch.equal(mine, row)
    assert len(pickle.dumps(mine)) < len(pickle.dumps(stacked)) / 50
    whole = torch.randn(32, 10)
    assert own(whole) is whole and own(None) is None


def test_answers_carry_their_own_gradients() -> None:
    grads = torch.randn(4, 8, 3)
    answer = _own_answer(CutGradient(grads[1], 0.5, grads[2]))
    assert answer.server_loss == 0.5
    assert answer.grad.untyped_storage().nbytes() == answer.grad.nbytes
    assert answer.simulated is not None and torch.equal(answer.simulated, grads[2])
    logits = torch.randn(10, 5)
    assert _own_answer(logits[2:4]).untyped_storage().nbytes() == 2 * 5 * 4
