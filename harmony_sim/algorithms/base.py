"""The algorithm interface: a plain class with a few hooks that the pool and server call.

Server side: `init_global`, `server_trainer` (the back end and its optimiser, see
split_protocol) and `aggregate`. Pool side, per participating client: `client_models`
(personalise from the global state), `start_training`, then per step `client_forward` (the cut
to upload) and `client_backward` (apply the server's gradient), then `contribute` (add the update
to the pool's accumulator) and `personal_state` (what the client keeps). Evaluation uses
`predict`. The runtime never looks inside an algorithm beyond these hooks."""

from __future__ import annotations

import copy
import functools
import weakref
from abc import ABC
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.aggregation import (
    StateDict,
    UpdateAccumulator,
    clone_state,
    fresh_state,
    mix_states,
    slice_state,
)
from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.placement import resolve_device
from harmony_sim.algorithms.records import (
    ClientForward,
    ClientModels,
    GlobalModel,
    PersonalState,
)
from harmony_sim.algorithms.split_protocol import (
    BACKEND,
    CutGradient,
    CutUpload,
    ServerTrainer,
    client_loss,
)
from harmony_sim.algorithms.vectorised import (
    GroupCall,
    GroupForward,
    plain_group_forward,
    structure_blocker,
)
from harmony_sim.models import (
    ArchSpec,
    Extractor,
    build_exit_head,
    build_extractor,
    build_server_backend,
    place,
)
from harmony_sim.models.layout import CPU
from harmony_sim.models.weights import load_weights, parameters, weights
from harmony_sim.network.codecs import Codec, roundtrip
from harmony_sim.seeding import seed_torch


class Algorithm(ABC):
    """Base class. Subclasses set `name` and override the hooks whose behaviour differs."""

    name: ClassVar[str]
    has_exit: ClassVar[bool] = True
    uses_server: ClassVar[bool] = True

    def __init__(self, config: Any, run: RunContext) -> None:
        self.config = config  # the algorithm's own section (scenario/algorithm_configs.py)
        self.run = run
        self.context = run.model
        self._module_cache: dict[tuple[str, str], nn.Module] = {}
        # Client module instances handed back by `release`, by the cached template they copy.
        self._spares: dict[int, list[nn.Module]] = {}
        self._template_of: weakref.WeakKeyDictionary[nn.Module, int] = \
            weakref.WeakKeyDictionary()

    @functools.cached_property
    def device(self) -> torch.device:
        """Where this process (a pool, the server) trains: resolved on first use."""
        return resolve_device(self.run.device)

    @property
    def private_labels(self) -> bool:
        """Labels stay on the device: the server returns logits, the client dL/dlogits."""
        return False

    @property
    def server_loss_weight(self) -> float:
        """Weight of the server CE in the client's loss (and of the server's own step)."""
        if not self.uses_server:
            return 0.0
        return 1.0 - self.config.gamma if self.has_exit else 1.0

    @property
    def exit_loss_weight(self) -> float:
        """Weight of the exit CE in the client's loss (gamma; 1 without a server)."""
        return self.config.gamma if (self.has_exit and self.uses_server) else 1.0

    @property
    def trains_simulated(self) -> bool:
        """Whether a client's simulated extractors (HARMONY's) take gradient steps."""
        return False

    # ---- component naming -------------------------------------------------------------------
    def extractor_key(self, arch: ArchSpec) -> str:
        """Global component a client's extractor is averaged into (per architecture here)."""
        return f"extractor/{arch.id}"

    def head_key(self, arch: ArchSpec) -> str:
        return f"head/{arch.id}"

    # ---- builders (cached per process: building modules per client would dominate a round) ---
    def _cached(self, kind: str, key: str, build: Callable[[], nn.Module]) -> nn.Module:
        module = self._module_cache.get((kind, key))
        if module is None:
            module = self._module_cache[(kind, key)] = build()
        return module

    def instance(self, template: nn.Module) -> nn.Module:
        """A module of `template`'s structure for one client: a spare that `release` handed
        back (still where it last computed), else a deep copy placed on the CPU (about 5 ms a
        module, which per client and round dominated short rounds). In `template`'s train/eval
        mode; the caller loads every weight (strictly)."""
        spares = self._spares.get(id(template))
        module = spares.pop() if spares else place(copy.deepcopy(template), CPU)
        self._template_of[module] = id(template)
        if module.training != template.training:  # train() walks every submodule
            module.train(template.training)
        return module

    def release(self, models: ClientModels) -> None:
        """Hand a client's modules back for the next client's `instance` (once nothing uses
        them: after its round's contribution and personal state, or its evaluation)."""
        for module in [models.extractor, models.head, *models.simulated]:
            template = None if module is None else self._template_of.pop(module, None)
            if template is not None:
                for p in parameters(module):
                    p.grad = None
                self._spares.setdefault(template, []).append(module)

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
            seed_torch(self.run.seed, "init", arch.id)
            components.setdefault(self.extractor_key(arch),
                                  fresh_state(self.extractor_module(arch)))
            if self.has_exit:
                components.setdefault(self.head_key(arch), fresh_state(self.head_module(arch)))
        if self.uses_server:
            seed_torch(self.run.seed, "init", "server")
            components[BACKEND] = fresh_state(self.backend_module())
        return GlobalModel(components)

    def aggregate(self, global_model: GlobalModel, updates: UpdateAccumulator) -> GlobalModel:
        """Coverage-weighted average of every component that received updates."""
        return GlobalModel(updates.average_into(global_model.components),
                           global_model.round + 1, dict(global_model.extras))

    def server_modules(self, global_model: GlobalModel) -> nn.ModuleDict:
        """The server-side modules, named as their global components, loaded from the model."""
        backend = copy.deepcopy(self.backend_module())
        backend.load_state_dict(global_model.components[BACKEND])
        return nn.ModuleDict({BACKEND: backend})

    def server_trainer(self, global_model: GlobalModel) -> ServerTrainer | None:
        """The back end and its optimiser (None: no server). The lockstep server actor keeps
        one for the whole run; the replica scheme makes one per client and round."""
        if not self.uses_server:
            return None
        modules = place(self.server_modules(global_model), self.device)
        return ServerTrainer(modules, self.make_server_optimizer(modules.parameters()),
                             loss_weight=self.server_loss_weight)

    def absorb_server(self, global_model: GlobalModel, trainer: ServerTrainer) -> None:
        """Write the lockstep server's state into the global model (after aggregation)."""
        global_model.components.update(trainer.state())

    def contribute_server(self, trainer: ServerTrainer, global_model: GlobalModel,
                          updates: UpdateAccumulator) -> None:
        """Replica scheme: add one client's replica to the round's sums (weighted by samples)."""
        for name, state in trainer.state().items():
            updates.add(name, state, float(trainer.samples_seen), global_model.components[name])

    def make_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """A client's optimiser for one round (fresh each round: a virtual client keeps no
        optimiser state between its rounds, which are many rounds apart)."""
        t = self.run.training
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)

    def make_server_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        t, s = self.run.training, self.run.server
        return torch.optim.SGD(params, lr=s.lr if s.lr is not None else t.lr,
                               momentum=s.momentum if s.momentum is not None else t.momentum,
                               weight_decay=t.weight_decay)

    # ---- pool side ---------------------------------------------------------------------------
    def client_models(self, arch: ArchSpec, global_model: GlobalModel,
                      personal: PersonalState | None, client_id: int = -1) -> ClientModels:
        """The client's own modules: per part, its personal share * its own weights +
        (1 - share) * the global ones (the global slice for a client that has not trained)."""
        # Own instances of the cached modules (reused, else copied: far cheaper than building).
        extractor = self.instance(self.extractor_module(arch))
        shared = slice_state(global_model.components[self.extractor_key(arch)],
                             weights(extractor))
        load_weights(extractor, self._personalise(shared, personal, "extractor"))
        head = None
        if self.has_exit:
            head = self.instance(self.head_module(arch))
            shared_head = slice_state(global_model.components[self.head_key(arch)],
                                      weights(head))
            load_weights(head, self._personalise(shared_head, personal, "head"))
        return ClientModels(arch, extractor, head, shared=global_model, client_id=client_id)

    def personal_share(self, part: str) -> float:
        """The personal share (lambda) of a client part: 0 = the global weights only (the base
        class keeps nothing personal; SplitGP and its kin read algorithm.personal)."""
        return 0.0

    def _personalise(self, shared: StateDict, personal: PersonalState | None,
                     part: str) -> StateDict:
        share = self.personal_share(part)
        if personal is None or part not in personal or share == 0.0:
            return shared
        return mix_states(personal[part], shared, share)

    def start_training(self, models: ClientModels) -> None:  # noqa: B027 (optional hook)
        """Before a client's first step of a round (HARMONY draws simulated extractors)."""

    def client_forward(self, models: ClientModels, x: Tensor, y: Tensor) -> ClientForward:
        """The device's forward pass: cut, exit loss, and the upload for the server."""
        cut = models.extractor(x)
        exit_loss = F.cross_entropy(models.head(cut), y) if models.head is not None else None
        upload = None
        if self.uses_server:
            upload = CutUpload(models.client_id, cut.detach(), 1,
                               None if self.private_labels else y)
        return ClientForward(cut, exit_loss, upload, y, len(y))

    def group_forward(self, call: GroupCall, x: Tensor, y: Tensor) -> GroupForward:
        """client_forward for a stack of clients of one architecture (x, y: (clients, batch,
        ...)); the vectorised pool's step (vectorised.py)."""
        return plain_group_forward(call, x, y)

    def stacking_blocker(self, models: ClientModels) -> str | None:
        """Why this client's step cannot run stacked with others (None: it can). A subclass
        with its own per-client step and no group form trains in turn."""
        kind = type(self)
        if kind.client_backward is not Algorithm.client_backward:
            return f"{self.name} has its own client_backward"
        if kind.client_forward is not Algorithm.client_forward and \
                kind.group_forward is Algorithm.group_forward:
            return f"{self.name} has its own client_forward and no group_forward"
        return structure_blocker(models)

    def client_backward(self, models: ClientModels, optimizer: torch.optim.Optimizer,
                        forward: ClientForward, answer: CutGradient | None) -> None:
        """gamma * CE(exit) + the server's gradient over the cut (surrogate (cut * grad).sum()),
        and over the simulated views when they train; one optimiser step."""
        loss = client_loss(forward.exit_loss, self.exit_loss_weight, [] if answer is None else [
            (forward.cut, answer.grad), (forward.simulated_cut, answer.simulated)])
        optimizer.zero_grad(set_to_none=True)
        if loss is not None and loss.requires_grad:
            loss.backward()
            optimizer.step()

    def contribute(self, models: ClientModels, weight: float, global_model: GlobalModel,
                   updates: UpdateAccumulator) -> None:
        """Add this client's trained weights to the pool's running sums."""
        key = self.extractor_key(models.arch)
        updates.add(key, weights(models.extractor), weight, global_model.components[key])
        if models.head is not None:
            key = self.head_key(models.arch)
            updates.add(key, weights(models.head), weight, global_model.components[key])

    def personal_state(self, models: ClientModels) -> PersonalState:
        """What a client keeps between rounds: the parts with a personal share (cloned)."""
        state = {}
        if self.personal_share("extractor") > 0:
            state["extractor"] = clone_state(weights(models.extractor))
        if models.head is not None and self.personal_share("head") > 0:
            state["head"] = clone_state(weights(models.head))
        return state

    def server_for_inference(self, global_model: GlobalModel) -> nn.Module | None:
        """The back end that answers fallback requests (loaded once per evaluation)."""
        if not self.uses_server:
            return None
        # Its own copy in the CPU's layout (the cached template stays as built).
        backend = self._cached("backend", "inference",
                               lambda: place(copy.deepcopy(self.backend_module()), CPU))
        backend.load_state_dict(global_model.components[BACKEND])
        return backend

    @torch.no_grad()
    def predict(self, models: ClientModels, server: nn.Module | None,
                x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(cut, exit logits, server logits) for a batch; None where the algorithm has no such
        path."""
        cut = models.extractor(x)
        exit_logits = models.head(cut) if models.head is not None else None
        server_logits = server(cut) if server is not None else None
        return cut, exit_logits, server_logits

    @torch.no_grad()
    def server_logits_through(self, server: nn.Module | None, cut: Tensor,
                              codec: Codec) -> Tensor | None:
        """Server logits when the cut tensor crosses the uplink encoded with `codec`."""
        if server is None:
            return None
        return server(roundtrip(cut, codec))
