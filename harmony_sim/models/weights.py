"""A module's weights by name, read and written without torch's per-call walk of its submodules.

`Module.state_dict()` and `load_state_dict()` recurse through every submodule with hooks and
prefix strings on each call: about 0.14 ms and 0.47 ms for the quickstart extractor here, 8x a
plain copy of its 15 tensors. A pool reads and loads each participant's modules several times a
round (its weights in, its contribution and personal state out), so those walks were a large
share of a round's host work per participant. Here a module's layout (which submodule holds
which tensor under which state-dict key) is found once per module and the tensors are looked up
through it on every call, so a module moved between devices (which replaces its buffers) is
still read as it is now. Same keys, values and strictness as the torch calls, for modules
without state-dict hooks or extra state (every model this package builds)."""

from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from harmony_sim.aggregation import StateDict

# key -> (the submodule that holds it, its attribute name, whether a parameter or a buffer)
_Layout = list[tuple[str, nn.Module, str, bool]]
_layouts: weakref.WeakKeyDictionary[nn.Module, _Layout] = weakref.WeakKeyDictionary()


def _layout(module: nn.Module) -> _Layout:
    layout = _layouts.get(module)
    if layout is None:
        layout = []
        for key in module.state_dict(keep_vars=True):
            owner_name, _, name = key.rpartition(".")
            owner = module.get_submodule(owner_name)
            layout.append((key, owner, name, name in owner._parameters))
        _layouts[module] = layout
    return layout


def _tensor(owner: nn.Module, name: str, is_parameter: bool) -> Tensor:
    held = owner._parameters[name] if is_parameter else owner._buffers[name]
    assert held is not None  # a None entry is not in state_dict(), so not in the layout
    return held


def weights(module: nn.Module) -> StateDict:
    """`module.state_dict()`: its current tensors (detached, sharing their storage)."""
    return {key: _tensor(owner, name, is_param).detach()
            for key, owner, name, is_param in _layout(module)}


def parameters(module: nn.Module) -> list[Tensor]:
    """`list(module.parameters())` (the parameters themselves), in state-dict order."""
    return [_tensor(owner, name, True) for _, owner, name, is_param in _layout(module)
            if is_param]


def load_weights(module: nn.Module, state: StateDict) -> None:
    """`module.load_state_dict(state)` (strict): every key, each value copied into the tensor
    of the same shape (converted to its dtype, device and layout)."""
    layout = _layout(module)
    if len(state) != len(layout) or any(key not in state for key, *_ in layout):
        module.load_state_dict(state)  # torch's error names the missing and unexpected keys
        return
    targets = [_tensor(owner, name, is_param) for _, owner, name, is_param in layout]
    values = [state[key] for key, *_ in layout]
    if [t.shape for t in targets] != [v.shape for v in values]:  # copy_ would broadcast
        key, target, value = next((key, t, v) for (key, *_), t, v in zip(
            layout, targets, values, strict=True) if t.shape != v.shape)
        raise RuntimeError(f"load_weights: {key} has shape {tuple(value.shape)}, the "
                           f"module's is {tuple(target.shape)}")
    if targets:  # (a module without weights has nothing to load)
        with torch.no_grad():
            torch._foreach_copy_(targets, values)  # one call, not one per tensor
