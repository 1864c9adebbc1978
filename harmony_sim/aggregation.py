"""Aggregation math: weighted sums of (possibly width/depth-sliced) state dicts.

One accumulator serves FedAvg (equal shapes), HeteroFL (leading channel slices) and supernet
merges: each update adds `weight * value` into the leading slice of the full tensor and `weight`
into a coverage tensor, so every parameter is averaged over the updates that actually hold it.
Pools sum their clients locally and the server merges pool sums, so no single process ever holds
one state dict per client."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors  # one C++ call: the cat of flattened tensors

StateDict = dict[str, Tensor]


def clone_state(state: StateDict) -> StateDict:
    """A copy on the CPU in torch's default layout, whatever device and layout a module
    computed in (what global models, personal states and messages hold)."""
    return {k: v.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)
            for k, v in state.items()}


def fresh_state(module: nn.Module) -> StateDict:
    """Newly initialised weights of `module` (seed torch first for a reproducible draw)."""
    for layer in module.modules():
        if hasattr(layer, "reset_parameters") and layer is not module:
            layer.reset_parameters()
    return clone_state(module.state_dict())


def _window(full: Tensor, shape: torch.Size) -> Tensor:
    """The leading slice of `full` of `shape` (`full` itself when the shapes match): the same
    strides and offset, fewer elements per dim (one call: indexing with a tuple of slices cost
    several microseconds a tensor, for every tensor of every participant)."""
    return full if full.shape == shape else full.as_strided(shape, full.stride())


def _check_slice(key: str, shape: torch.Size, full: torch.Size) -> None:
    if len(shape) != len(full) or any(t > s for t, s in zip(shape, full, strict=True)):
        raise ValueError(f"{key}: {tuple(shape)} is not a slice of {tuple(full)}")


def slice_state(full: StateDict, like: StateDict) -> StateDict:
    """The part of `full` (a supernet) that a smaller model with state `like` holds: the same
    keys, each the leading slice of its full tensor. Views into `full`: every caller loads or
    combines them into new tensors, so a copy here would be a second one per client and round;
    copy before writing to them."""
    sliced = {}
    for key, target in like.items():
        source = full[key]
        _check_slice(key, target.shape, source.shape)
        sliced[key] = _window(source, target.shape)
    return sliced


def mix_states(personal: StateDict, shared: StateDict, personal_share: float) -> StateDict:
    """personal_share * personal + (1 - personal_share) * shared, key by key (SplitGP's lambda)."""
    return {key: (personal_share * value + (1.0 - personal_share) * shared[key]
                  if value.is_floating_point() else value.clone())
            for key, value in personal.items()}


class SliceAccumulator:
    """Running weighted sum of state dicts that are leading slices of a reference shape.

    The sums and coverage of all floating-point entries live in one flat buffer each, with a
    view per key: an update of full shape (every client but HeteroFL's narrower ones) is added
    as one flattened vector, three tensor ops instead of three per entry (per-op overhead, not
    arithmetic, was most of a pool's contribution time per participant; the same float32
    multiply and add, so the same bits)."""

    def __init__(self, reference: StateDict) -> None:
        floating = {k: v for k, v in reference.items() if v.is_floating_point()}
        total = sum(v.numel() for v in floating.values())
        device = next((v.device for v in floating.values()), None)  # the reference's
        self._build([(k, v.shape) for k, v in floating.items()],
                    torch.zeros(total, dtype=torch.float32, device=device),
                    torch.zeros(total, dtype=torch.float32, device=device))

    def _build(self, shapes: list[tuple[str, torch.Size]], flat_sum: Tensor,
               flat_coverage: Tensor) -> None:
        self.flat_sum, self.flat_coverage = flat_sum, flat_coverage
        self.shapes = dict(shapes)
        self.weighted_sum: StateDict = {}
        self.coverage: StateDict = {}
        offset = 0
        for key, shape in shapes:
            n = shape.numel()
            self.weighted_sum[key] = flat_sum[offset:offset + n].view(shape)
            self.coverage[key] = flat_coverage[offset:offset + n].view(shape)
            offset += n

    def __getstate__(self) -> dict:
        # Pickling the per-key views would write the whole flat buffer once per view.
        return {"shapes": list(self.shapes.items()), "flat_sum": self.flat_sum,
                "flat_coverage": self.flat_coverage}

    def __setstate__(self, state: dict) -> None:
        self._build(state["shapes"], state["flat_sum"], state["flat_coverage"])

    def add(self, state: StateDict, weight: float) -> None:
        if weight <= 0:
            return
        # Integer buffers (e.g. BatchNorm counters) are not averaged.
        keys = [key for key in state if key in self.weighted_sum]
        if len(keys) == len(self.shapes) and all(
                state[key].shape == shape for key, shape in self.shapes.items()):
            # Out of place: one tensor comes back as a view of the caller's.
            flat = _flatten_dense_tensors([state[key].float() for key in self.shapes])
            self.flat_sum.add_(flat.mul(weight))
            self.flat_coverage.add_(weight)
            return
        # Leading slices (HeteroFL's narrower clients): one foreach call per operation. A shape
        # that is no slice would reach into the next entry's part of the flat buffers.
        for key in keys:
            _check_slice(key, state[key].shape, self.shapes[key])
        values = [state[key].float() for key in keys]
        sums = [_window(self.weighted_sum[key], state[key].shape) for key in keys]
        covers = [_window(self.coverage[key], state[key].shape) for key in keys]
        torch._foreach_add_(sums, torch._foreach_mul(values, weight))
        torch._foreach_add_(covers, weight)

    def merge(self, other: SliceAccumulator) -> None:
        # Both sum one component, so both were laid out from its reference alike.
        if list(self.shapes.items()) != list(other.shapes.items()):
            raise ValueError("merging sums of differently shaped states")
        self.flat_sum += other.flat_sum
        self.flat_coverage += other.flat_coverage

    @property
    def total_weight(self) -> float:
        return float(self.flat_coverage.max()) if self.flat_coverage.numel() else 0.0

    def average(self, fallback: StateDict) -> StateDict:
        """Coverage-weighted mean; entries no update covered keep `fallback`'s value."""
        result = {}
        for key, value in fallback.items():
            if key not in self.weighted_sum:
                result[key] = value.clone()
                continue
            cover = self.coverage[key]
            mean = self.weighted_sum[key] / cover.clamp_min(1e-12)
            result[key] = torch.where(cover > 0, mean, value.float()).to(value.dtype)
        return result


@dataclass
class UpdateAccumulator:
    """Named SliceAccumulators, one per model component (e.g. 'server', 'extractor/<arch>')."""

    parts: dict[str, SliceAccumulator] = field(default_factory=dict)
    # Tensors that are collected, not averaged (e.g. HARMONY's queue of server-side features).
    collected: dict[str, list[Tensor]] = field(default_factory=dict)

    def collect(self, name: str, tensor: Tensor) -> None:
        self.collected.setdefault(name, []).append(tensor)

    def add(self, component: str, state: StateDict, weight: float,
            reference: StateDict) -> None:
        if component not in self.parts:
            self.parts[component] = SliceAccumulator(reference)
        self.parts[component].add(state, weight)

    def merge(self, other: UpdateAccumulator) -> None:
        for name, part in other.parts.items():
            if name in self.parts:
                self.parts[name].merge(part)
            else:
                self.parts[name] = part
        for name, tensors in other.collected.items():
            self.collected.setdefault(name, []).extend(tensors)

    def average_into(self, components: dict[str, StateDict]) -> dict[str, StateDict]:
        """New component states: averaged where updates arrived, unchanged elsewhere."""
        return {name: (self.parts[name].average(state) if name in self.parts else state)
                for name, state in components.items()}
