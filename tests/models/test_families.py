"""Every family x width x depth: cut shape, nesting inside the family's widest/deepest model
(what supernets and width-sliced aggregation rely on), and parameter counts that grow."""

from __future__ import annotations

import pytest
import torch

from harmony_sim.aggregation import slice_state
from harmony_sim.models import (
    FAMILIES,
    ArchSpec,
    CutSpec,
    build_exit_head,
    build_extractor,
    build_server_backend,
)
from harmony_sim.models.cost import count_params

WIDTHS = [0.25, 0.5, 1.0]
DEPTHS = [1, 2]
INPUTS = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]  # MNIST, CIFAR, sklearn digits
CUT = CutSpec(16, 4)


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("input_shape", INPUTS)
def test_family_member(family: str, width: float, depth: int,
                       input_shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    extractor = build_extractor(ArchSpec(family, width, depth), input_shape[0], CUT)
    z = extractor(torch.randn(2, *input_shape))
    assert tuple(z.shape) == (2, *CUT.shape)
    assert tuple(build_server_backend(CUT, 10)(z).shape) == (2, 10)
    assert tuple(build_exit_head(CUT, 10)(z).shape) == (2, 10)

    full = build_extractor(ArchSpec(family, max(WIDTHS), max(DEPTHS)), input_shape[0],
                           CUT).state_dict()
    small = extractor.state_dict()
    assert set(small) <= set(full)
    sliced = slice_state(full, small)  # raises unless each tensor is a leading slice
    for key, tensor in small.items():
        assert sliced[key].shape == tensor.shape
    # The slice loads back into the small model and runs.
    extractor.load_state_dict(sliced)
    assert torch.isfinite(extractor(torch.randn(2, *input_shape))).all()


@pytest.mark.parametrize("family", FAMILIES.names())
def test_parameters_grow_with_width_and_depth(family: str) -> None:
    def params(width: float, depth: int) -> int:
        return count_params(build_extractor(ArchSpec(family, width, depth), 3, CUT))

    for depth in DEPTHS:
        counts = [params(w, depth) for w in WIDTHS]
        assert counts == sorted(counts) and len(set(counts)) == len(counts)
    for width in WIDTHS:
        assert params(width, 1) < params(width, 2)
