"""models.weights reads and loads a module's weights exactly as state_dict / load_state_dict do,
including after a move that replaces its buffers, and refuses what load_state_dict refuses."""

from __future__ import annotations

import pytest
import torch

from harmony_sim.models import FAMILIES, ArchSpec, CutSpec, build_extractor, place
from harmony_sim.models.weights import load_weights, weights

CUT = CutSpec(16, 4)


def extractor(family: str, norm: str = "group") -> torch.nn.Module:
    return build_extractor(ArchSpec(family, 0.5, 1), 1, CUT, norm)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_weights_are_the_state_dict(family: str) -> None:
    module = place(extractor(family, "batch"), torch.device("cpu"))  # buffers too
    expected = module.state_dict()
    got = weights(module)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].data_ptr() == value.data_ptr() and not got[key].requires_grad


@pytest.mark.parametrize("family", FAMILIES.names())
def test_load_weights_matches_load_state_dict(family: str) -> None:
    torch.manual_seed(0)
    source = extractor(family, "batch")
    state = {k: v + 1 if v.is_floating_point() else v + 3
             for k, v in source.state_dict().items()}
    by_torch, ours = extractor(family, "batch"), place(extractor(family, "batch"),
                                                       torch.device("cpu"))
    by_torch.load_state_dict(state)
    load_weights(ours, {k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    for key, value in by_torch.state_dict().items():
        assert ours.state_dict()[key].dtype == value.dtype
        torch.testing.assert_close(ours.state_dict()[key], value, atol=1e-2, rtol=1e-3)


def test_a_move_that_replaces_buffers_is_seen() -> None:
    module = extractor("plain_cnn", "batch")
    weights(module)  # layout found before the move
    module.to(torch.float64)  # .to() replaces buffers with new tensors
    for key, value in module.state_dict().items():
        assert weights(module)[key].data_ptr() == value.data_ptr()
    load_weights(module, {k: torch.zeros_like(v) for k, v in module.state_dict().items()})
    assert all(float(v.abs().sum()) == 0 for v in module.state_dict().values())


def test_load_weights_is_strict() -> None:
    module = extractor("plain_cnn")
    state = module.state_dict()
    missing = dict(list(state.items())[1:])
    with pytest.raises(RuntimeError, match="Missing key"):
        load_weights(module, missing)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_weights(module, {**state, "extra.weight": torch.zeros(1)})
    key = next(iter(state))
    with pytest.raises(RuntimeError, match=f"{key} has shape"):
        load_weights(module, {**state, key: torch.zeros(1)})
