"""Cut-tensor encodings on the fallback uplink: fp32 (as computed), fp16, int8 (per-sample affine).

`roundtrip` returns what the server decodes, so the accuracy cost of compression is measured by
running the real back end on it; `payload_bytes` is what the uplink carries."""

from __future__ import annotations

from typing import get_args

import torch
from torch import Tensor

from harmony_sim.scenario.schema import Codec

CODECS: tuple[Codec, ...] = get_args(Codec)
BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "int8": 1}
# int8 sends one fp32 scale and one uint8 zero point per sample beside the values.
INT8_SIDE_BYTES = 4 + 1


def payload_bytes(numel: int, codec: Codec) -> int:
    """Uplink bytes of one cut tensor of `numel` values under `codec`."""
    side = INT8_SIDE_BYTES if codec == "int8" else 0
    return numel * BYTES_PER_VALUE[codec] + side


def roundtrip(cut: Tensor, codec: Codec) -> Tensor:
    """Encode then decode a batch of cut tensors (first dimension = sample), back in fp32."""
    if codec == "fp32":
        return cut
    if codec == "fp16":
        return cut.half().float()
    flat = cut.reshape(len(cut), -1).float()
    low = flat.amin(1).clamp(max=0.0)  # the range always holds 0, so zero stays exact
    high = flat.amax(1).clamp(min=0.0)
    scale = ((high - low) / 255.0).clamp(min=torch.finfo(torch.float32).tiny)
    zero_point = torch.round(-low / scale).clamp(0, 255).to(torch.int32)
    fake = torch.fake_quantize_per_channel_affine(flat, scale, zero_point, 0, 0, 255)
    return fake.reshape(cut.shape)
