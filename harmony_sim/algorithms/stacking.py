"""Many modules of one structure as one set of stacked weights (row i = module i), a forward
over any of their rows (grouped convolutions on CPU where the structure allows, else vmap), and
SGD over rows exactly as each module's own."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from weakref import WeakKeyDictionary

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from harmony_sim.algorithms.grouped import GroupedTwin, grouped_twin
from harmony_sim.models.weights import load_weights, weights

Params = dict[str, Tensor]


# Keyed by module object: a module here keeps its structure for life (weights are loaded into it
# in place, never swapped), and a round asks for every participant's key (a module walk each).
_structure_keys: WeakKeyDictionary[nn.Module, tuple] = WeakKeyDictionary()
# Per (structure, device type, mode): the weightless callables of a Stack, built once per process
# rather than per round (a deep copy of the module each).
_callables: dict[tuple, tuple[nn.Module, GroupedTwin | None, str | None]] = {}


def structure_key(module: nn.Module) -> tuple:
    """Modules with equal keys compute the same function of their weights: the same layers in
    order with the same settings (their repr: strides, groups, pooling sizes, ...), parameter
    names and shapes."""
    key = _structure_keys.get(module)
    if key is None:
        key = _structure_keys[module] = (
            repr(module), tuple((n, tuple(p.shape)) for n, p in module.named_parameters()))
    return key


def _stack_callables(module: nn.Module,
                     device: torch.device) -> tuple[nn.Module, GroupedTwin | None, str | None]:
    """`module`'s weightless template on meta, its grouped twin on CPU where the structure has
    one, and why not (see Stack); in `module`'s train/eval mode."""
    key = (structure_key(module), device.type, module.training)
    if key not in _callables:
        template = copy.deepcopy(module).to("meta", memory_format=torch.contiguous_format)
        grouped, not_grouped = None, "vmap on cuda"
        if device.type == "cpu":
            twin = grouped_twin(module)
            grouped, not_grouped = (None, twin) if isinstance(twin, str) else (twin, None)
        _callables[key] = (template, grouped, not_grouped)
    return _callables[key]


class Stack:
    """The parameters of `modules` (one structure, no buffers) stacked along a new dim 0 on
    `device`, and a weightless template to call them with: on CPU its grouped twin where the
    structure has one (`not_grouped` says why not), vmap over the template otherwise (on cuda
    vmap is what benchmarks/vectorised.py measured)."""

    def __init__(self, modules: Sequence[nn.Module], device: torch.device) -> None:
        first = modules[0]
        self.names = [n for n, _ in first.named_parameters()]
        per_module = [weights(m) for m in modules]  # no buffers: its parameters
        # Contiguous rows whatever layout the modules compute in (models/layout.py): on CPU the
        # grouped twin's channels_last input sets the layout; on cuda vmap runs as measured.
        self.params: Params = {n: torch.stack([p[n] for p in per_module]).to(
            device).contiguous() for n in self.names}
        self.template, self.grouped, self.not_grouped = _stack_callables(
            first, torch.device(device))

    @property
    def bytes_per_row(self) -> int:
        return sum(p[0].numel() * p.element_size() for p in self.params.values())

    def rows(self, idx: Tensor, requires_grad: bool = False) -> Params:
        """A copy of rows `idx` (leaves, for one call's autograd graph)."""
        return {n: p[idx].requires_grad_(requires_grad) for n, p in self.params.items()}

    def put(self, idx: Tensor, values: Params) -> None:
        with torch.no_grad():
            for n, v in values.items():
                self.params[n][idx] = v.detach()

    def call(self, params: Params, x: Tensor) -> Tensor:
        """The template with each row's weights on that row's inputs: x is (rows, batch, ...)."""
        if self.grouped is not None:
            return self.grouped(params, x)
        return vmap(lambda p, xi: functional_call(self.template, p, (xi,)))(params, x)

    def load_into(self, modules: Sequence[nn.Module]) -> None:
        """Write row i back into modules[i] (where each module lives)."""
        host = {n: p.detach().cpu() for n, p in self.params.items()}
        for i, module in enumerate(modules):
            load_weights(module, {n: host[n][i] for n in self.names})


class StackedSGD:
    """torch.optim.SGD (lr, momentum, weight decay; dampening 0, no Nesterov) on rows of a Stack:
    each row steps exactly as its own fresh optimiser would (a zero momentum buffer times the
    momentum plus the gradient is torch's first-step buffer, the gradient itself)."""

    def __init__(self, stack: Stack, lr: float, momentum: float, weight_decay: float) -> None:
        self.stack, self.lr, self.momentum, self.weight_decay = stack, lr, momentum, weight_decay
        self.buffers = ({n: torch.zeros_like(p) for n, p in stack.params.items()}
                        if momentum else {})

    def step(self, idx: Tensor, leaves: Params) -> None:
        """One step of rows `idx` from the gradients on `leaves` (rows without one keep still,
        as a parameter without a gradient does in torch.optim)."""
        stepped = {}
        with torch.no_grad():
            for n, leaf in leaves.items():
                grad = leaf.grad
                if grad is None:
                    continue
                if self.weight_decay:
                    grad = grad.add(leaf, alpha=self.weight_decay)
                if self.momentum:
                    buf = self.buffers[n][idx].mul_(self.momentum).add_(grad)
                    self.buffers[n][idx] = buf
                    grad = buf
                stepped[n] = leaf.add(grad, alpha=-self.lr)
        self.stack.put(idx, stepped)


def sgd_rows(leaves: Params, grads: Sequence[Tensor | None], lr: float) -> None:
    """Plain SGD in place on call leaves (an inner loop's steps, no momentum or decay)."""
    with torch.no_grad():
        for leaf, grad in zip(leaves.values(), grads, strict=True):
            if grad is not None:
                leaf.add_(grad, alpha=-lr)
