"""A pool's round participants trained as stacks: clients whose models share one structure step
together, one stacked call per (structure, batch size) and step (grouped.py on CPU, vmap where
a structure has no grouped form or on cuda), one SGD step for all.

Per step, the clients with a batch left are grouped by model structure and batch size (a
ragged last batch, clients that finished: they simply fall into another group or none); each
group's weights are gathered from the round's stacks, run through the algorithm's
`group_forward`, and after the server's answer take one `StackedSGD` step that is, row by row,
each client's own. The trained rows go back into each client's modules when the round's steps
are done, so the rest of the pool (contribute, personal state) sees nothing different."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor
from torch.nn import functional as F

from harmony_sim.algorithms.context import RunContext
from harmony_sim.algorithms.placement import group_limit, log_once
from harmony_sim.algorithms.records import ClientForward, ClientModels
from harmony_sim.algorithms.split_protocol import CutUpload, client_loss
from harmony_sim.algorithms.stacking import Params, Stack, StackedSGD, sgd_rows, structure_key


@dataclass
class GroupForward:
    """One group's forward pass: cuts (clients, batch, ...) with the graph, exit losses
    (clients,), the upload views (clients, views * batch, ...), their labels."""

    cut: Tensor
    exit_loss: Tensor | None
    views: Tensor
    view_count: int
    labels: Tensor
    samples: int
    simulated: Tensor | None = None  # the simulated views with their graph, when they train


@dataclass
class GroupCall:
    """One stacked call: its clients (rows of the round's stacks) and their weights as leaves
    (per part, the rows of that part's stack: `rows`)."""

    structure: ClientStructure
    cids: list[int]
    params: dict[str, Params]
    forward: GroupForward | None = None
    rows: dict[str, Tensor] = field(default_factory=dict)

    def extractor(self, x: Tensor) -> Tensor:
        return self.structure.extractor.call(self.params["extractor"], x)

    @property
    def has_head(self) -> bool:
        return "head" in self.params

    def exit_loss(self, cut: Tensor, y: Tensor) -> Tensor:
        """Each client's mean CE of its exit head on its cut: (clients,)."""
        head = self.structure.head
        assert head is not None
        logits = head.call(self.params["head"], cut)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none") \
            .view(y.shape).mean(1)

    def adapt(self, x: Tensor, y: Tensor, steps: int, lr: float) -> None:
        """Inner loop: `steps` plain SGD steps of every client on its own exit loss."""
        leaves = {f"{part}.{n}": t for part, p in self.params.items() for n, t in p.items()}
        for _ in range(steps):
            loss = self.exit_loss(self.extractor(x), y).sum()
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
            sgd_rows(leaves, grads, lr)

    def simulated(self, x: Tensor, train: bool = False) -> Tensor | None:
        """Every client's simulated extractors' cuts of its own inputs, in its slot order:
        (clients, slots * batch, ...); None without simulated extractors. With `train`, with
        the graph to their rows (stepped in `VectorisedClients.backward`)."""
        slots = self.structure.slots
        if slots == 0:
            return None
        out: Tensor | None = None
        for part, sim in zip(simulated_parts(self.structure), self.structure.simulated,
                             strict=True):
            found = sim.indices(self.cids, x.device)
            if found is None:
                continue
            g, j, rows = found
            leaves = sim.stack.rows(rows, train)
            if train:
                self.params[part], self.rows[part] = leaves, rows
            with torch.set_grad_enabled(train):
                cuts = sim.stack.call(leaves, x[g])
            if out is None:
                out = cuts.new_empty((len(self.cids), slots, *cuts.shape[1:]))
            out[g, j] = cuts
        assert out is not None
        return out.flatten(1, 2)


@dataclass
class SimulatedStack:
    """Simulated extractors of one structure over the round's clients: row r is slot
    owners[r][1] of client owners[r][0]."""

    stack: Stack
    owners: list[tuple[int, int]]
    _indices: dict[tuple[int, ...], tuple[Tensor, Tensor, Tensor] | None] = field(
        default_factory=dict, repr=False)

    def indices(self, cids: Sequence[int],
                device: torch.device) -> tuple[Tensor, Tensor, Tensor] | None:
        """For a call over `cids`, of the rows they own: each one's client position in the call,
        its slot, the row (None: they own none). Cached: a round's steps repeat their calls."""
        key = tuple(cids)
        if key not in self._indices:
            position = {cid: i for i, cid in enumerate(cids)}
            chosen = [r for r, (cid, _) in enumerate(self.owners) if cid in position]
            self._indices[key] = None if not chosen else (
                torch.tensor([position[self.owners[r][0]] for r in chosen], device=device),
                torch.tensor([self.owners[r][1] for r in chosen], device=device),
                torch.tensor(chosen, device=device))
        return self._indices[key]


@dataclass
class ClientStructure:
    """The round's clients of one model structure: stacks, optimisers and call size limit."""

    cids: list[int]
    extractor: Stack
    head: Stack | None
    optimizers: dict[str, StackedSGD]
    limit: int
    simulated: list[SimulatedStack] = field(default_factory=list)
    slots: int = 0
    row: dict[int, int] = field(init=False)  # client id -> its row in the stacks
    _rows: dict[tuple[int, ...], Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.row = {cid: i for i, cid in enumerate(self.cids)}

    def rows_of(self, cids: Sequence[int], device: torch.device) -> Tensor:
        """The stack rows of `cids` (cached: a round's steps repeat their calls)."""
        key = tuple(cids)
        if key not in self._rows:
            self._rows[key] = torch.tensor([self.row[c] for c in cids], device=device)
        return self._rows[key]


def structure_blocker(models: ClientModels) -> str | None:
    """Why these modules cannot be stacked (None: they can)."""
    modules = [models.extractor, *([models.head] if models.head else []), *models.simulated]
    if any(True for m in modules for _ in m.buffers()):
        return "modules with buffers (BatchNorm running statistics) are trained in turn"
    return None


class StackedAlgorithm(Protocol):
    """What the vectorised step needs of an algorithm (base.Algorithm provides it)."""

    name: str
    uses_server: bool
    run: RunContext

    @property
    def private_labels(self) -> bool: ...

    @property
    def exit_loss_weight(self) -> float: ...

    @property
    def trains_simulated(self) -> bool: ...

    def group_forward(self, call: GroupCall, x: Tensor, y: Tensor) -> GroupForward: ...


class VectorisedClients:
    """The round's participants of one pool as stacks on `device` (see the module docstring)."""

    def __init__(self, algorithm: StackedAlgorithm, members: Mapping[int, ClientModels],
                 device: torch.device, max_group: int | None = None,
                 bytes_per_client: int = 0, threads: int = 1) -> None:
        self.algorithm, self.device = algorithm, device
        self.members = dict(members)
        t = algorithm.run.training
        by_key: dict[tuple, list[int]] = {}
        for cid in sorted(members):
            m = members[cid]
            key = (structure_key(m.extractor), structure_key(m.head) if m.head else None)
            by_key.setdefault(key, []).append(cid)
        self.structures: dict[int, ClientStructure] = {}
        for cids in by_key.values():
            models = [members[c] for c in cids]
            extractor = Stack([m.extractor for m in models], device)
            head = Stack([m.head for m in models if m.head], device) if models[0].head else None
            stacks = {"extractor": extractor, **({"head": head} if head else {})}
            row_bytes = sum(s.bytes_per_row for s in stacks.values())
            limit = group_limit(max_group, device, max(bytes_per_client, 4 * row_bytes),
                                threads)
            structure = ClientStructure(
                cids, extractor, head,
                {part: StackedSGD(s, t.lr, t.momentum, t.weight_decay)
                 for part, s in stacks.items()}, limit)
            self._stack_simulated(structure, models)
            if algorithm.trains_simulated:  # HARMONY's simulated extractors train: their rows
                for part, sim in zip(simulated_parts(structure), structure.simulated,
                                     strict=True):
                    structure.optimizers[part] = StackedSGD(sim.stack, t.lr, t.momentum,
                                                            t.weight_decay)
            if limit < len(cids):
                why = "runtime.max_group" if max_group else "free memory, CPU cache"
                log_once(f"vectorised: {len(cids)} clients of one architecture in calls of at "
                          f"most {limit} ({why})")
            for cid in cids:
                self.structures[cid] = structure
        self.calls: list[GroupCall] = []

    def _stack_simulated(self, structure: ClientStructure, models: Sequence[ClientModels]) -> None:
        by_key: dict[tuple, list[tuple[int, int]]] = {}
        modules = {}
        for m in models:
            structure.slots = max(structure.slots, len(m.simulated))
            for slot, sim in enumerate(m.simulated):
                by_key.setdefault(structure_key(sim), []).append((m.client_id, slot))
                modules[(m.client_id, slot)] = sim
        if any(len(m.simulated) != structure.slots for m in models):
            raise ValueError("clients of one structure need the same number of simulated "
                             "extractors")
        structure.simulated = [SimulatedStack(Stack([modules[o] for o in owners], self.device),
                                              owners) for owners in by_key.values()]

    def forward(self, batches: Mapping[int, tuple[Tensor, Tensor]]) -> dict[int, ClientForward]:
        """Every client with a batch (on this pool's device: ClientPool batches there) runs its
        forward pass, grouped; each one's ClientForward (its cut a slice of its group's, sharing
        the graph)."""
        algorithm = self.algorithm
        groups: dict[tuple[int, int], list[int]] = {}
        for cid in sorted(batches):
            key = (id(self.structures[cid]), len(batches[cid][1]))
            groups.setdefault(key, []).append(cid)
        self.calls = []
        found = {}
        for cids in groups.values():
            structure = self.structures[cids[0]]
            for start in range(0, len(cids), structure.limit):
                chunk = cids[start:start + structure.limit]
                idx = structure.rows_of(chunk, self.device)
                params = {"extractor": structure.extractor.rows(idx, True)}
                if structure.head is not None:
                    params["head"] = structure.head.rows(idx, True)
                call = GroupCall(structure, chunk, params,
                                 rows={part: idx for part in params})
                x = torch.stack([batches[c][0] for c in chunk])
                y = torch.stack([batches[c][1] for c in chunk])
                out = call.forward = algorithm.group_forward(call, x, y)
                self.calls.append(call)
                for i, cid in enumerate(chunk):
                    upload = None
                    if algorithm.uses_server:
                        upload = CutUpload(cid, out.views[i], out.view_count,
                                           None if algorithm.private_labels else out.labels[i],
                                           view_grads=out.simulated is not None)
                    found[cid] = ClientForward(
                        out.cut[i], None if out.exit_loss is None else out.exit_loss[i], upload,
                        out.labels[i], out.samples)
        return found

    def backward(self, cut_grads: Mapping[int, Tensor | None],
                 simulated_grads: Mapping[int, Tensor | None] | None = None) -> dict[int, float]:
        """Each group's loss (exit CE weight times exit CE plus the cut surrogate, and the
        simulated views' one where they train, summed over its clients: each row's gradient is
        its client's own), one SGD step; each client's exit loss."""
        weight = self.algorithm.exit_loss_weight
        exit_losses: dict[int, float] = {}
        for call in self.calls:
            out = call.forward
            assert out is not None
            if out.exit_loss is not None:
                exit_losses.update(zip(call.cids, out.exit_loss.detach().tolist(), strict=True))
            loss = client_loss(out.exit_loss, weight, [
                (out.cut, self._stacked(call.cids, cut_grads, out.cut)),
                (out.simulated, self._stacked(call.cids, simulated_grads or {}, out.simulated))])
            if loss is not None and loss.requires_grad:
                loss.backward()
                for part, leaves in call.params.items():
                    call.structure.optimizers[part].step(call.rows[part], leaves)
        self.calls = []
        return exit_losses

    def _stacked(self, cids: Sequence[int], grads: Mapping[int, Tensor | None],
                 like: Tensor | None) -> Tensor | None:
        """The clients' server gradients as one (clients, ...) tensor shaped like `like`, zero
        rows for clients without one (None: none has one)."""
        rows = [grads.get(cid) for cid in cids]
        if like is None or all(g is None for g in rows):
            return None
        return torch.stack([torch.zeros_like(like[0]) if g is None else g.to(self.device)
                            for g in rows])

    def write_back(self) -> None:
        """Every client's trained rows into its own modules."""
        done = set()
        for structure in self.structures.values():
            if id(structure) in done:
                continue
            done.add(id(structure))
            models = [self.members[c] for c in structure.cids]
            structure.extractor.load_into([m.extractor for m in models])
            if structure.head is not None:
                structure.head.load_into([m.head for m in models if m.head])
            for sim in structure.simulated:
                sim.stack.load_into([self.members[cid].simulated[slot]
                                     for cid, slot in sim.owners])


def simulated_parts(structure: ClientStructure) -> list[str]:
    """The optimiser keys of a structure's simulated stacks."""
    return [f"simulated/{i}" for i in range(len(structure.simulated))]


def plain_group_forward(call: GroupCall, x: Tensor, y: Tensor) -> GroupForward:
    """Algorithm.client_forward for a group: cut and exit CE, the cut uploaded as it is."""
    cut = call.extractor(x)
    exit_loss = call.exit_loss(cut, y) if call.has_head else None
    return GroupForward(cut, exit_loss, cut.detach(), 1, y, y.shape[1])
