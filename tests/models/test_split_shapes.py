"""Every registered family x width x depth emits the common cut tensor the server consumes, and
client + server together classify."""

from __future__ import annotations

import pytest
import torch

from harmony_sim.models import (
    FAMILIES,
    ArchSpec,
    CutSpec,
    build_exit_head,
    build_extractor,
    build_server_backend,
)

INPUTS = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]
CUTS = [CutSpec(32, 7), CutSpec(16, 2)]


@pytest.mark.parametrize("family", FAMILIES.names())
@pytest.mark.parametrize("width", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("input_shape", INPUTS)
@pytest.mark.parametrize("cut", CUTS)
def test_cut_shapes_agree(family: str, width: float, depth: int,
                          input_shape: tuple[int, int, int], cut: CutSpec) -> None:
    extractor = build_extractor(ArchSpec(family, width, depth), input_shape[0], cut)
    x = torch.randn(3, *input_shape)
    z = extractor(x)
    assert tuple(z.shape) == (3, *cut.shape)
    server = build_server_backend(cut, num_classes=10)
    head = build_exit_head(cut, num_classes=10)
    assert tuple(server(z).shape) == (3, 10)
    assert tuple(head(z).shape) == (3, 10)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_width_and_depth_nest(family: str) -> None:
    """A narrower/shallower extractor's weights are a leading slice of the full one's, which is
    what width-sliced aggregation and supernets rely on."""
    cut = CutSpec(16, 4)
    full = build_extractor(ArchSpec(family, 1.0, 2), 1, cut).state_dict()
    small = build_extractor(ArchSpec(family, 0.5, 1), 1, cut).state_dict()
    for key, tensor in small.items():
        assert key in full
        assert all(s <= f for s, f in zip(tensor.shape, full[key].shape, strict=True))
