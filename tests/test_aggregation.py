"""Aggregation math: weighted averages, width-sliced merges with coverage, personal mixing."""

from __future__ import annotations

import pickle

import pytest
import torch

from harmony_sim.aggregation import (
    SliceAccumulator,
    UpdateAccumulator,
    mix_states,
    slice_state,
)


def test_equal_shapes_give_the_weighted_mean() -> None:
    reference = {"w": torch.zeros(2, 2)}
    acc = SliceAccumulator(reference)
    acc.add({"w": torch.ones(2, 2)}, weight=1.0)
    acc.add({"w": torch.full((2, 2), 4.0)}, weight=3.0)
    assert torch.allclose(acc.average(reference)["w"], torch.full((2, 2), 13.0 / 4.0))


def test_slices_are_averaged_over_the_updates_that_hold_them() -> None:
    full = {"w": torch.full((4, 2), -1.0), "b": torch.zeros(4)}
    acc = SliceAccumulator(full)
    acc.add({"w": torch.full((4, 2), 2.0), "b": torch.ones(4)}, weight=1.0)  # full width
    acc.add({"w": torch.full((2, 1), 5.0), "b": torch.full((2,), 3.0)}, weight=1.0)  # half
    merged = acc.average(full)
    assert merged["w"][0, 0] == 3.5  # both updates cover it
    assert merged["w"][0, 1] == 2.0  # only the full-width update covers it
    assert merged["w"][3, 1] == 2.0
    assert torch.equal(merged["b"], torch.tensor([2.0, 2.0, 1.0, 1.0]))


def test_uncovered_entries_keep_the_previous_value() -> None:
    full = {"w": torch.arange(4.0)}
    acc = SliceAccumulator(full)
    acc.add({"w": torch.tensor([10.0, 10.0])}, weight=2.0)
    assert torch.equal(acc.average(full)["w"], torch.tensor([10.0, 10.0, 2.0, 3.0]))


def test_pool_sums_merge_like_one_accumulator() -> None:
    torch.manual_seed(0)
    reference = {"w": torch.zeros(3, 3)}
    updates = [(torch.randn(3, 3), float(w)) for w in (1, 2, 3, 4)]
    single = UpdateAccumulator()
    pool_a, pool_b = UpdateAccumulator(), UpdateAccumulator()
    for i, (value, weight) in enumerate(updates):
        single.add("c", {"w": value}, weight, reference)
        (pool_a if i % 2 else pool_b).add("c", {"w": value}, weight, reference)
    pool_a.merge(pool_b)
    expected = single.average_into({"c": reference})["c"]["w"]
    assert torch.allclose(pool_a.average_into({"c": reference})["c"]["w"], expected)
    assert torch.allclose(expected, sum(v * w for v, w in updates) / 10.0)


def test_slice_then_mix() -> None:
    full = {"w": torch.arange(6.0).reshape(3, 2)}
    sliced = slice_state(full, {"w": torch.empty(2, 1)})
    assert torch.equal(sliced["w"], torch.tensor([[0.0], [2.0]]))
    mixed = mix_states({"w": torch.tensor([[10.0], [10.0]])}, sliced, personal_share=0.25)
    assert torch.allclose(mixed["w"], torch.tensor([[2.5], [4.0]]))


def _state(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"conv": torch.randn(4, 3, 3, 3, generator=generator),
            "bias": torch.randn(4, generator=generator), "steps": torch.tensor(seed)}


def test_full_shape_updates_sum_as_entry_by_entry_to_the_bit() -> None:
    # Full-shape updates go in as one flat vector: the same float32 multiply and add per entry.
    reference = _state(0)
    acc = SliceAccumulator(reference)
    expected = {k: torch.zeros_like(v) for k, v in reference.items() if v.is_floating_point()}
    coverage = torch.zeros(1)
    for seed, weight in ((1, 512.0), (2, 37.5), (3, 0.1)):
        state = _state(seed)
        state["conv"] = state["conv"].contiguous(memory_format=torch.channels_last)
        acc.add(state, weight)
        for key in expected:
            expected[key] += state[key] * weight
        coverage += weight
    assert all(torch.equal(acc.weighted_sum[k], expected[k]) for k in expected)
    assert acc.total_weight == float(coverage)


def test_a_one_entry_update_is_not_written_to() -> None:
    value = torch.ones(3)
    acc = SliceAccumulator({"w": torch.zeros(3)})
    acc.add({"w": value}, weight=4.0)  # one flattened tensor is a view of the caller's
    assert torch.equal(value, torch.ones(3))
    assert torch.equal(acc.weighted_sum["w"], torch.full((3,), 4.0))


def test_a_pickled_accumulator_keeps_its_sums_and_sends_each_value_once() -> None:
    reference = {f"w{i}": torch.zeros(100) for i in range(20)}
    acc = UpdateAccumulator()
    acc.add("c", {k: torch.ones(100) for k in reference}, 2.0, reference)
    sent = pickle.dumps(acc)
    # The two flat buffers (sums, coverage) of 2,000 floats each, not the whole buffer per view.
    assert len(sent) < 3 * 2000 * 4
    back = pickle.loads(sent)
    back.add("c", {k: torch.full((100,), 3.0) for k in reference}, 1.0, reference)
    averaged = back.average_into({"c": reference})["c"]
    assert all(torch.allclose(v, torch.full((100,), 5.0 / 3.0)) for v in averaged.values())


def test_an_update_that_is_no_slice_is_refused() -> None:
    acc = SliceAccumulator({"x": torch.zeros(2, 2), "y": torch.zeros(4)})
    with pytest.raises(ValueError, match="not a slice"):
        acc.add({"x": torch.ones(3, 2)}, weight=1.0)
    assert torch.equal(acc.weighted_sum["y"], torch.zeros(4))
