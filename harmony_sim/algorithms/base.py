"""The algorithm interface: a plain class with a few hooks that the pool and server call.

Server side: `init_global` and `aggregate`. Pool side, per participating client:
`client_models` (personalise from the global state), `train_client`, `contribute` (add the
update to the pool's accumulator), `personal_state` (what the client keeps). Evaluation uses
`predict`. The runtime never looks inside an algorithm beyond these hooks."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.aggregation import StateDict, UpdateAccumulator, mix_states, slice_state
from harmony_sim.algorithms.split_protocol import ServerReplica, TrafficCounter
from harmony_sim.inference.codecs import Codec, roundtrip
from harmony_sim.models import (
    ArchSpec,
    CutSpec,
    Extractor,
    build_exit_head,
    build_extractor,
    build_server_backend,
)
from harmony_sim.models.norm import NormKind
from harmony_sim.scenario.schema import Scenario
from harmony_sim.seeding import seed_torch

PersonalState = dict[str, StateDict]


@dataclass(frozen=True)
class ModelContext:
    """What model builders need to know about the data and the cut."""

    in_channels: int
    num_classes: int
    cut: CutSpec
    norm: NormKind


@dataclass
class GlobalModel:
    """The server's shared state: named component state dicts plus the round it belongs to."""

    components: dict[str, StateDict]
    round: int = 0
    extras: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class ClientModels:
    """The modules one client trains and evaluates with (head is None without an early exit)."""

    arch: ArchSpec
    extractor: Extractor
    head: nn.Module | None
    shared: GlobalModel | None = None  # the global state this client's round started from
    client_id: int = -1  # set by the pool; seeds per-client random draws

    def parameters(self) -> list[nn.Parameter]:
        params = list(self.extractor.parameters())
        if self.head is not None:
            params += list(self.head.parameters())
        return params


@dataclass
class TrainStats:
    """Per-client training figures for one round."""

    samples: int = 0
    batches: int = 0
    exit_loss: float = 0.0
    server_loss: float = 0.0
    traffic: TrafficCounter = field(default_factory=TrafficCounter)


class Algorithm(ABC):
    """Base class. Subclasses set `name` and override the hooks whose behaviour differs."""

    name: ClassVar[str]
    has_exit: ClassVar[bool] = True
    uses_server: ClassVar[bool] = True

    def __init__(self, scenario: Scenario, context: ModelContext) -> None:
        self.scenario = scenario
        self.context = context
        self.config = scenario.algorithm
        self._module_cache: dict[tuple[str, str], nn.Module] = {}

    # ---- component naming -------------------------------------------------------------------
    def extractor_key(self, arch: ArchSpec) -> str:
        """Global component a client's extractor is averaged into (per architecture here)."""
        return f"extractor/{arch.id}"

    def head_key(self, arch: ArchSpec) -> str:
        return f"head/{arch.id}"

    # ---- builders (cached per pool: building modules per client would dominate a round) ------
    def _cached(self, kind: str, key: str, build: Callable[[], nn.Module]) -> nn.Module:
        module = self._module_cache.get((kind, key))
        if module is None:
            module = self._module_cache[(kind, key)] = build()
        return module

    def extractor_module(self, arch: ArchSpec) -> Extractor:
        c = self.context
        return self._cached("extractor", arch.id,
                            lambda: build_extractor(arch, c.in_channels, c.cut, c.norm))

    def head_module(self, arch: ArchSpec) -> nn.Module:
        return self._cached("head", arch.id,
                            lambda: build_exit_head(self.context.cut, self.context.num_classes))

    def backend_module(self) -> nn.Module:
        c = self.context
        return self._cached("backend", "server",
                            lambda: build_server_backend(c.cut, c.num_classes, c.norm))

    # ---- server side -------------------------------------------------------------------------
    def init_global(self, archs: Iterable[ArchSpec]) -> GlobalModel:
        """Fresh seeded weights for every architecture in use and for the server back end."""
        components: dict[str, StateDict] = {}
        for arch in sorted(set(archs)):
            seed_torch(self.scenario.seed, "init", arch.id)
            components.setdefault(self.extractor_key(arch),
                                  fresh_state(self.extractor_module(arch)))
            if self.has_exit:
                components.setdefault(self.head_key(arch), fresh_state(self.head_module(arch)))
        if self.uses_server:
            seed_torch(self.scenario.seed, "init", "server")
            components["server"] = fresh_state(self.backend_module())
        return GlobalModel(components)

    def aggregate(self, global_model: GlobalModel, updates: UpdateAccumulator) -> GlobalModel:
        """Coverage-weighted average of every component that received updates."""
        return GlobalModel(updates.average_into(global_model.components),
                           global_model.round + 1, dict(global_model.extras))

    # ---- pool side ---------------------------------------------------------------------------
    def client_models(self, arch: ArchSpec, global_model: GlobalModel,
                      personal: PersonalState | None) -> ClientModels:
        """Load the client's weights: lambda * personal + (1 - lambda) * global, or the global
        slice for a client that has not trained yet."""
        extractor = self.extractor_module(arch)
        shared = slice_state(global_model.components[self.extractor_key(arch)],
                             extractor.state_dict())
        extractor.load_state_dict(self._personalise(shared, personal, "extractor"))
        head = None
        if self.has_exit:
            head = self.head_module(arch)
            shared_head = slice_state(global_model.components[self.head_key(arch)],
                                      head.state_dict())
            head.load_state_dict(self._personalise(shared_head, personal, "head"))
        return ClientModels(arch, extractor, head, shared=global_model)

    def _personalise(self, shared: StateDict, personal: PersonalState | None,
                     part: str) -> StateDict:
        if personal is None or part not in personal:
            return shared
        return mix_states(personal[part], shared, self.config.lam)

    def server_replica(self, global_model: GlobalModel) -> ServerReplica | None:
        """A trainable copy of the back end for one pool and round (None: no server)."""
        if not self.uses_server:
            return None
        backend = self.backend_module()
        backend.load_state_dict(global_model.components["server"])
        modules = nn.ModuleDict({"backend": backend})
        return ServerReplica(modules, self.make_optimizer(modules.parameters()),
                             loss_weight=1.0 - self.config.gamma if self.has_exit else 1.0)

    def make_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        t = self.scenario.training
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)

    def train_client(self, models: ClientModels, batches: Iterable[tuple[Tensor, Tensor]],
                     server: ServerReplica | None) -> TrainStats:
        """SplitGP's step: gamma * CE(exit) on the device plus (1 - gamma) * CE(server), the
        latter's gradient coming back over the cut."""
        optimizer = self.make_optimizer(models.parameters())
        stats = TrainStats()
        gamma = self.config.gamma if (self.has_exit and server is not None) else 1.0
        for x, y in batches:
            cut = models.extractor(x)
            loss = cut.new_zeros(())
            if models.head is not None and gamma > 0:
                exit_loss = F.cross_entropy(models.head(cut), y)
                loss = loss + gamma * exit_loss
                stats.exit_loss += float(exit_loss.detach())
            if server is not None:
                grad = server.train_on_cut(cut.detach(), y)
                loss = loss + (cut * grad).sum()  # surrogate: d/dcut = the server's gradient
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stats.samples += len(y)
            stats.batches += 1
        if server is not None:
            stats.server_loss = server.loss_sum
            stats.traffic = server.traffic
        return stats

    def contribute(self, models: ClientModels, weight: float, global_model: GlobalModel,
                   updates: UpdateAccumulator) -> None:
        """Add this client's trained weights to the pool's running sums."""
        key = self.extractor_key(models.arch)
        updates.add(key, models.extractor.state_dict(), weight, global_model.components[key])
        if models.head is not None:
            key = self.head_key(models.arch)
            updates.add(key, models.head.state_dict(), weight, global_model.components[key])

    def contribute_server(self, server: ServerReplica, global_model: GlobalModel,
                          updates: UpdateAccumulator) -> None:
        updates.add("server", server.backend.state_dict(), float(server.samples_seen),
                    global_model.components["server"])

    def personal_state(self, models: ClientModels) -> PersonalState:
        """What a client keeps between rounds (cloned: the modules are reused by other clients)."""
        state = {"extractor": _clone(models.extractor.state_dict())}
        if models.head is not None:
            state["head"] = _clone(models.head.state_dict())
        return state

    def server_for_inference(self, global_model: GlobalModel) -> nn.Module | None:
        """The back end that answers fallback requests (loaded once per evaluation)."""
        if not self.uses_server:
            return None
        backend = self.backend_module()
        backend.load_state_dict(global_model.components["server"])
        return backend

    @torch.no_grad()
    def predict(self, models: ClientModels, server: nn.Module | None,
                x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """(exit logits, server logits) for a batch; None where the algorithm has no such path."""
        cut = models.extractor(x)
        exit_logits = models.head(cut) if models.head is not None else None
        server_logits = server(cut) if server is not None else None
        return exit_logits, server_logits

    @torch.no_grad()
    def server_logits_through(self, models: ClientModels, server: nn.Module | None, x: Tensor,
                              codec: Codec) -> Tensor | None:
        """Server logits when the cut tensor crosses the uplink encoded with `codec`."""
        if server is None:
            return None
        return server(roundtrip(models.extractor(x), codec))


def fresh_state(module: nn.Module) -> StateDict:
    for layer in module.modules():
        if hasattr(layer, "reset_parameters") and layer is not module:
            layer.reset_parameters()
    return _clone(module.state_dict())


def _clone(state: StateDict) -> StateDict:
    return {k: v.detach().clone() for k, v in state.items()}
