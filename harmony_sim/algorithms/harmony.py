"""HARMONY, the project's reconstruction (docs: /work/shared/design/harmony-algorithm.md):
per-family supernets with Reptile aggregation, a first-order (Reptile-style) inner loop, simulated
extractors drawn from the supernets, server-side InfoNCE alignment with a cross-round queue of
other clients' features, and private labels over a U-shaped exchange. Ablations are config flags
(algorithm.meta / contrastive / labels) and registered names harmony_no_meta,
harmony_no_contrastive, harmony_shared_labels."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.aggregation import UpdateAccumulator
from harmony_sim.algorithms.base import (
    Algorithm,
    ClientModels,
    GlobalModel,
    ModelContext,
    TrainStats,
    fresh_state,
)
from harmony_sim.algorithms.contrastive import build_projection, enqueue
from harmony_sim.algorithms.registry import ALGORITHMS
from harmony_sim.algorithms.split_protocol import ServerReplica, view_ce
from harmony_sim.algorithms.supernet import (
    SUPERNET_PREFIX,
    draw_archs,
    fitting_archs,
    init_supernets,
    reptile_step,
    scenario_family_maxima,
    simulated_extractor,
    supernet_key,
)
from harmony_sim.models import ArchSpec, Extractor, build_extractor
from harmony_sim.scenario.schema import Scenario
from harmony_sim.seeding import numpy_rng, seed_torch, torch_generator

QUEUE = "queue"
PROJECTION = "projection"


@ALGORITHMS.register("harmony")
class Harmony(Algorithm):
    name = "harmony"

    def __init__(self, scenario: Scenario, context: ModelContext,
                 **overrides: Any) -> None:
        if overrides:  # ablation variants registered by name
            scenario = scenario.model_copy(update={
                "algorithm": scenario.algorithm.model_copy(update=overrides)})
        super().__init__(scenario, context)

    @property
    def contrastive_weight(self) -> float:
        c = self.config
        return c.beta if c.contrastive else 0.0

    # ---- components -------------------------------------------------------------------------
    def extractor_key(self, arch: ArchSpec) -> str:
        return supernet_key(arch.family)

    def projection_module(self) -> nn.Module:
        return self._cached("projection", "server", lambda: build_projection(
            self.context.cut, self.config.projection_dim))

    def init_global(self, archs: Iterable[ArchSpec]) -> GlobalModel:
        archs = list(archs)
        model = super().init_global(archs)
        model.components.update(init_supernets(self.scenario, archs, self.extractor_module))
        seed_torch(self.scenario.seed, "init", PROJECTION)
        model.components[PROJECTION] = fresh_state(self.projection_module())
        return model

    def aggregate(self, global_model: GlobalModel, updates: UpdateAccumulator) -> GlobalModel:
        """Coverage-weighted means, then each supernet takes a Reptile step of meta_lr towards
        its mean; the queue takes the round's new features (newest first, bounded)."""
        merged = super().aggregate(global_model, updates)
        for key, old in global_model.components.items():
            if key.startswith(SUPERNET_PREFIX) and key in updates.parts:
                merged.components[key] = reptile_step(old, merged.components[key],
                                                      self.config.meta_lr)
        queue = enqueue(global_model.extras.get(QUEUE), updates.collected.get(QUEUE, []),
                        self.config.queue_size)
        merged.extras.pop(QUEUE, None)
        if queue is not None:
            merged.extras[QUEUE] = queue
        return merged

    # ---- server side of a client's round ----------------------------------------------------
    def server_replica(self, global_model: GlobalModel) -> ServerReplica | None:
        backend = self.backend_module()
        backend.load_state_dict(global_model.components["server"])
        projection = self.projection_module()
        projection.load_state_dict(global_model.components[PROJECTION])
        modules = nn.ModuleDict({"backend": backend, PROJECTION: projection})
        return ServerReplica(modules, self.make_optimizer(modules.parameters()),
                             loss_weight=1.0 - self.config.gamma,
                             negatives=global_model.extras.get(QUEUE), tau=self.config.tau,
                             contrastive_weight=self.contrastive_weight)

    def contribute_server(self, server: ServerReplica, global_model: GlobalModel,
                          updates: UpdateAccumulator) -> None:
        super().contribute_server(server, global_model, updates)
        updates.add(PROJECTION, server.modules[PROJECTION].state_dict(),
                    float(server.samples_seen), global_model.components[PROJECTION])
        if server.new_features and self.config.queue_size > 0:
            # Each client offers its latest features; per_round clients share the queue.
            share = math.ceil(self.config.queue_size / self.scenario.clients.per_round)
            updates.collect(QUEUE, torch.cat(server.new_features[::-1])[:share])

    # ---- client side ------------------------------------------------------------------------
    def simulated_extractors(self, models: ClientModels) -> list[Extractor]:
        """`simulated_extractors` slices of the global supernets that fit this client, with
        Gaussian weight noise; drawn from the client's own seeded stream for this round."""
        shared = models.shared
        if shared is None or not self.config.meta or self.config.simulated_extractors == 0:
            return []
        maxima = scenario_family_maxima(self.scenario, [models.arch])
        seed, cid, rnd = self.scenario.seed, models.client_id, shared.round
        archs = draw_archs(fitting_archs(models.arch, maxima, self.config.cross_family),
                           self.config.simulated_extractors,
                           numpy_rng(seed, "simulate", cid, rnd))
        generator = torch_generator(seed, "simulate-noise", cid, rnd)
        c = self.context
        return [simulated_extractor(
            self._cached("simulated", f"{arch.id}#{i}", partial(
                build_extractor, arch, c.in_channels, c.cut, c.norm)),
            shared.components[supernet_key(arch.family)], self.config.param_noise_std,
            generator) for i, arch in enumerate(archs)]

    def train_client(self, models: ClientModels, batches: Iterable[tuple[Tensor, Tensor]],
                     server: ServerReplica | None) -> TrainStats:
        """Per batch: (meta) adapt on the support half with inner SGD steps on the exit loss,
        then on the query half: exit CE on the device, the server step on the client's cut plus
        the simulated extractors' cuts (one call), applied from the adapted weights."""
        config = self.config
        assert models.head is not None and server is not None
        optimizer = self.make_optimizer(models.parameters())
        simulated = self.simulated_extractors(models)
        views = 1 + len(simulated)
        stats = TrainStats()
        private_loss = 0.0
        for x, y in batches:
            adapted = False
            if config.meta and config.inner_steps > 0 and len(y) >= 4:
                half = len(y) // 2
                self._adapt(models, x[:half], y[:half])
                x, y, adapted = x[half:], y[half:], True
            cut = models.extractor(x)
            exit_loss = F.cross_entropy(models.head(cut), y)
            with torch.no_grad():
                stacked = torch.cat([cut.detach(), *(e(x) for e in simulated)])
            if config.labels == "shared":
                grad = server.train_views(stacked, views, labels=y)
            else:
                def logit_grad(logits: Tensor, labels: Tensor = y) -> Tensor:
                    """Runs on the device: CE against the private labels, dL/dlogits back."""
                    nonlocal private_loss
                    logits = logits.detach().requires_grad_(True)
                    ce = view_ce(logits, labels, views)
                    private_loss += float(ce.detach())
                    ((1.0 - config.gamma) * ce).backward()
                    assert logits.grad is not None
                    return logits.grad

                grad = server.train_views(stacked, views, logit_grad=logit_grad)
            loss = config.gamma * exit_loss + (cut * grad).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Reptile-style first order: the query step continues from the adapted weights (a
            # FOMAML restore to the pre-adaptation weights learnt markedly slower in our runs);
            # the outer Reptile step is the supernet update in aggregate().
            optimizer.step()
            stats.exit_loss += float(exit_loss.detach())
            stats.samples += len(y) * (2 if adapted else 1)
            stats.batches += 1
        stats.server_loss = server.loss_sum if config.labels == "shared" else private_loss
        stats.traffic = server.traffic
        return stats

    def _adapt(self, models: ClientModels, x: Tensor, y: Tensor) -> None:
        """Inner loop: plain SGD steps on the exit loss (learn to personalise)."""
        assert models.head is not None
        inner = torch.optim.SGD(models.parameters(), lr=self.config.inner_lr)
        for _ in range(self.config.inner_steps):
            loss = F.cross_entropy(models.head(models.extractor(x)), y)
            inner.zero_grad(set_to_none=True)
            loss.backward()
            inner.step()


for _name, _overrides in {"harmony_no_meta": {"meta": False},
                          "harmony_no_contrastive": {"contrastive": False},
                          "harmony_shared_labels": {"labels": "shared"}}.items():
    ALGORITHMS.add(_name, partial(Harmony, **_overrides))  # type: ignore[arg-type]
