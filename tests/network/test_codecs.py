"""Cut codecs: bytes on the uplink and the accuracy path through the real back end."""

from __future__ import annotations

import pytest
import torch

from harmony_sim.models.architecture import CutSpec
from harmony_sim.models.cost import cut_bytes_per_sample
from harmony_sim.network.codecs import INT8_SIDE_BYTES, payload_bytes, roundtrip


@pytest.mark.parametrize("cut", [CutSpec(32, 7), CutSpec(16, 2), CutSpec(64, 14)])
def test_compression_shrinks_uplink_bytes_by_the_expected_factor(cut: CutSpec) -> None:
    fp32 = payload_bytes(cut.numel, "fp32")
    assert fp32 == cut_bytes_per_sample(cut)
    assert payload_bytes(cut.numel, "fp16") == fp32 / 2
    assert payload_bytes(cut.numel, "int8") == fp32 / 4 + INT8_SIDE_BYTES


def test_roundtrip_error_is_within_half_a_quantisation_step() -> None:
    cut = torch.relu(torch.randn(8, 16, 7, 7, generator=torch.Generator().manual_seed(0))) * 3
    assert torch.equal(roundtrip(cut, "fp32"), cut)
    assert torch.allclose(roundtrip(cut, "fp16"), cut, rtol=1e-3, atol=1e-3)
    step = cut.reshape(8, -1).amax(1) / 255
    err = (roundtrip(cut, "int8") - cut).abs().reshape(8, -1).amax(1)
    assert (err <= step / 2 + 1e-6).all()
    assert (roundtrip(cut, "int8") == 0).sum() >= (cut == 0).sum()  # zeros stay exact


def test_evaluation_returns_server_predictions_on_the_decoded_cut(tiny_scenario) -> None:  # noqa: ANN001
    from harmony_sim.data import load_dataset
    from harmony_sim.population import build_clients
    from harmony_sim.runtime import LocalRuntime

    scenario = tiny_scenario()
    dataset = load_dataset(scenario.data, scenario.seed)
    runtime = LocalRuntime(scenario, dataset, build_clients(scenario, dataset))
    runtime.run_round(1, list(range(6)))
    evals = runtime.evaluate([0, 1], ["fp16", "int8"])
    for ev in evals:
        assert set(ev.server_pred_by_codec) == {"fp16", "int8"}
        assert ev.server_pred is not None
        for pred in ev.server_pred_by_codec.values():
            assert pred.shape == ev.server_pred.shape
            assert (pred == ev.server_pred).mean() >= 0.9  # lossy, but close
    assert runtime.evaluate([0])[0].server_pred_by_codec == {}
