"""HARMONY, the project's reconstruction (docs/algorithm.md):
per-family supernets with Reptile aggregation, a first-order (Reptile-style) inner loop, simulated
extractors drawn from the supernets, server-side InfoNCE alignment with a cross-round queue of
other clients' features, and private labels over a U-shaped exchange. Ablations are config flags
(algorithm.meta / contrastive / labels / train_simulated) and presets named harmony_no_meta,
harmony_no_contrastive, harmony_shared_labels and harmony_frozen_simulated
(scenario/algorithm_configs.py)."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harmony_sim.aggregation import UpdateAccumulator, clone_state, fresh_state, slice_state
from harmony_sim.algorithms.contrastive import build_projection, enqueue
from harmony_sim.algorithms.records import ClientForward, ClientModels, GlobalModel
from harmony_sim.algorithms.registry import ALGORITHMS
from harmony_sim.algorithms.split_protocol import (
    PROJECTION,
    ContrastiveAlignment,
    CutUpload,
    ServerTrainer,
)
from harmony_sim.algorithms.splitgp import SplitGP
from harmony_sim.algorithms.supernet import (
    SUPERNET_PREFIX,
    draw_archs,
    fitting_archs,
    init_supernets,
    reptile_step,
    run_family_maxima,
    simulated_extractor,
    supernet_key,
)
from harmony_sim.algorithms.vectorised import GroupCall, GroupForward
from harmony_sim.models import ArchSpec, build_extractor
from harmony_sim.models.weights import weights
from harmony_sim.scenario.algorithm_configs import HARMONY_PRESETS, HarmonyConfig
from harmony_sim.seeding import numpy_rng, seed_torch, torch_generator

QUEUE = "queue"


@ALGORITHMS.register("harmony")
class Harmony(SplitGP):
    name = "harmony"
    config: HarmonyConfig

    @property
    def contrastive_weight(self) -> float:
        c = self.config
        return c.beta if c.contrastive else 0.0

    @property
    def trains_simulated(self) -> bool:
        return self.config.train_simulated

    # ---- components -------------------------------------------------------------------------
    def extractor_key(self, arch: ArchSpec) -> str:
        return supernet_key(arch.family)

    def projection_module(self) -> nn.Module:
        return self._cached("projection", "server", lambda: build_projection(
            self.context.cut, self.config.projection_dim))

    def init_global(self, archs: Iterable[ArchSpec]) -> GlobalModel:
        archs = list(archs)
        model = super().init_global(archs)
        model.components.update(init_supernets(self.run, archs, self.extractor_module))
        seed_torch(self.run.seed, "init", PROJECTION)
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

    # ---- server side -----------------------------------------------------------------------
    @property
    def private_labels(self) -> bool:
        return self.config.labels == "private"

    def server_modules(self, global_model: GlobalModel) -> nn.ModuleDict:
        modules = super().server_modules(global_model)
        projection = copy.deepcopy(self.projection_module())
        projection.load_state_dict(global_model.components[PROJECTION])
        modules[PROJECTION] = projection
        return modules

    def server_trainer(self, global_model: GlobalModel) -> ServerTrainer | None:
        trainer = super().server_trainer(global_model)
        assert trainer is not None
        trainer.contrastive = ContrastiveAlignment(
            self.contrastive_weight, self.config.tau, self.config.queue_size,
            _on(global_model.extras.get(QUEUE), trainer.device))
        return trainer

    def absorb_server(self, global_model: GlobalModel, trainer: ServerTrainer) -> None:
        super().absorb_server(global_model, trainer)
        global_model.extras.pop(QUEUE, None)
        if trainer.contrastive is not None and trainer.contrastive.queue is not None:
            global_model.extras[QUEUE] = trainer.contrastive.queue.cpu()

    def contribute_server(self, trainer: ServerTrainer, global_model: GlobalModel,
                          updates: UpdateAccumulator) -> None:
        super().contribute_server(trainer, global_model, updates)
        if trainer.new_features and self.config.queue_size > 0:
            # Replica scheme: each client offers its latest features; per_round clients share
            # the queue.
            share = math.ceil(self.config.queue_size / self.run.per_round)
            updates.collect(QUEUE, torch.cat(trainer.new_features[::-1])[:share].cpu())

    # ---- client side ------------------------------------------------------------------------
    @functools.cached_property
    def family_maxima(self) -> dict[str, ArchSpec]:
        """Each family's largest member in use (run.architectures holds every client's)."""
        return run_family_maxima(self.run)

    def start_training(self, models: ClientModels) -> None:
        """Draw this round's simulated extractors: `simulated_extractors` slices of the global
        supernets that fit this client, with Gaussian weight noise, from the client's own
        seeded stream."""
        shared = models.shared
        if shared is None or not self.config.meta or self.config.simulated_extractors == 0:
            return
        seed, cid, rnd = self.run.seed, models.client_id, shared.round
        archs = draw_archs(fitting_archs(models.arch, self.family_maxima, self.config.cross_family),
                           self.config.simulated_extractors,
                           numpy_rng(seed, "simulate", cid, rnd))
        generator = torch_generator(seed, "simulate-noise", cid, rnd)
        c = self.context
        # The templates are in eval mode, as every simulated extractor computes: their
        # instances then need no mode switch (a walk over every submodule) per draw.
        models.simulated = [simulated_extractor(
            self.instance(self._cached("simulated", arch.id, lambda arch=arch: build_extractor(
                arch, c.in_channels, c.cut, c.norm).eval())),
            shared.components[supernet_key(arch.family)], self.config.param_noise_std,
            generator) for arch in archs]
        models.simulated_archs = list(archs)
        if self.trains_simulated:
            models.simulated_start = [clone_state(weights(e)) for e in models.simulated]

    def contribute(self, models: ClientModels, weight: float, global_model: GlobalModel,
                   updates: UpdateAccumulator) -> None:
        """The client's own slice, and (train_simulated) each simulated extractor's update on
        this client's classes, added to its family's supernet without the drawn weight noise:
        so every family learns from every client, not only from its own architectures'."""
        super().contribute(models, weight, global_model, updates)
        share = self.config.simulated_weight * weight
        for arch, module, start in zip(models.simulated_archs, models.simulated,
                                       models.simulated_start, strict=False):
            key = supernet_key(arch.family)
            clean = slice_state(global_model.components[key], start)
            trained = weights(module)
            moved = [k for k, v in trained.items() if v.is_floating_point()]
            update = dict(trained)  # integer buffers as trained
            update.update(zip(moved, torch._foreach_add(  # clean + (trained - start), foreach
                [clean[k] for k in moved], torch._foreach_sub([trained[k] for k in moved],
                                                              [start[k] for k in moved])),
                strict=True))
            updates.add(key, update, share, global_model.components[key])

    def client_forward(self, models: ClientModels, x: Tensor, y: Tensor) -> ClientForward:
        """(Meta) adapt on the support half with inner SGD steps on the exit loss; then, on the
        query half, the exit CE and the upload: the client's cut plus the simulated extractors'
        cuts of the same inputs. The query step continues from the adapted weights (Reptile-style
        first order; a FOMAML restore learnt markedly slower in our runs); the outer Reptile
        step is the supernet update in aggregate()."""
        samples = len(y)
        half = self._support_half(samples)
        if half:
            self._adapt(models, x[:half], y[:half])
            x, y = x[half:], y[half:]
        assert models.head is not None
        cut = models.extractor(x)
        exit_loss = F.cross_entropy(models.head(cut), y)
        train = self.trains_simulated and bool(models.simulated)
        with torch.set_grad_enabled(train):
            simulated = torch.cat([e(x) for e in models.simulated]) if models.simulated else None
        views = [cut.detach()] if simulated is None else [cut.detach(), simulated.detach()]
        upload = CutUpload(models.client_id, torch.cat(views), 1 + len(models.simulated),
                           None if self.private_labels else y, view_grads=train)
        return ClientForward(cut, exit_loss, upload, y, samples,
                             simulated_cut=simulated if train else None)

    def _support_half(self, samples: int) -> int:
        """The meta inner loop's support share of a batch (0: no inner loop for this batch)."""
        meta = self.config.meta and self.config.inner_steps > 0 and samples >= 4
        return samples // 2 if meta else 0

    def group_forward(self, call: GroupCall, x: Tensor, y: Tensor) -> GroupForward:
        """client_forward for a stack of clients (vectorised.py): the same inner loop and
        query step, every client's simulated views from the round's simulated stacks."""
        samples = y.shape[1]
        half = self._support_half(samples)
        if half:
            call.adapt(x[:, :half], y[:, :half], self.config.inner_steps, self.config.inner_lr)
            x, y = x[:, half:], y[:, half:]
        cut = call.extractor(x)
        exit_loss = call.exit_loss(cut, y)
        train = self.trains_simulated
        simulated = call.simulated(x, train)
        views = cut.detach() if simulated is None else \
            torch.cat([cut.detach(), simulated.detach()], 1)
        return GroupForward(cut, exit_loss, views, 1 + call.structure.slots, y, samples,
                            simulated if train else None)

    def _adapt(self, models: ClientModels, x: Tensor, y: Tensor) -> None:
        """Inner loop: plain SGD steps on the exit loss (learn to personalise)."""
        assert models.head is not None
        inner = torch.optim.SGD(models.parameters(), lr=self.config.inner_lr)
        for _ in range(self.config.inner_steps):
            loss = F.cross_entropy(models.head(models.extractor(x)), y)
            inner.zero_grad(set_to_none=True)
            loss.backward()
            inner.step()


def _on(tensor: Tensor | None, device: torch.device) -> Tensor | None:
    return None if tensor is None else tensor.to(device)


for _preset in HARMONY_PRESETS:  # the ablations: HARMONY with one flag fixed by its config
    if _preset != Harmony.name:
        ALGORITHMS.add(_preset, Harmony)
