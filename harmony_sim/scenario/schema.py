"""Pydantic models for a scenario YAML: one sub-model per concern, every field checked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harmony_sim.config_models import StrictModel
from harmony_sim.scenario.algorithm_configs import (
    DEFAULT_ALGORITHM,
    AlgorithmConfig,
    SplitGPConfig,
)

# Exit rules (harmony_sim/evaluation/exit_rules.py implements each).
ExitRule = Literal["entropy", "confidence", "energy", "mahalanobis"]
DeviceChoice = Literal["auto", "cpu", "cuda"]  # runtime.device


class DataConfig(StrictModel):
    """Which dataset, and how it is split into clients with in-distribution (ID) classes."""

    dataset: str = Field("mnist5k", description="registered dataset name, see harmony_sim.data")
    root: Path | None = Field(None, description="local folder for torchvision datasets")
    download: bool = Field(False, description="let torchvision datasets download into root")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="held-out share when the "
                                 "dataset has no test split of its own")
    partition: Literal["shards", "dirichlet"] = "shards"
    classes_per_client: int = Field(3, ge=1, description="ID classes per client (shards)")
    dirichlet_alpha: float = Field(0.5, gt=0.0, description="concentration (dirichlet)")
    id_min_share: float = Field(0.1, gt=0.0, le=1.0, description="dirichlet: a class is ID for a "
                                "client when it holds at least this share of its train samples")
    test_samples_per_client: int = Field(60, ge=1, description="ID test samples per client")
    synthetic_samples: int = Field(20000, ge=100, description="size of the synthetic dataset")


class ModelConfig(StrictModel):
    """The split model: extractor family/width/depth, the common cut tensor and norm layer."""

    family: str = Field("plain_cnn", description="registered model family")
    width: float = Field(1.0, gt=0.0, le=4.0, description="channel width multiplier")
    depth: int = Field(1, ge=1, le=8, description="blocks per stage")
    cut_channels: int = Field(32, ge=1, le=512)
    cut_size: int = Field(7, ge=1, le=64, description="cut tensor height = width")
    norm: Literal["group", "batch", "none"] = "group"


class ArchConfig(StrictModel):
    """A fixed extractor architecture (family x width x depth)."""

    family: str = Field(description="registered model family")
    width: float = Field(1.0, gt=0.0, le=4.0)
    depth: int = Field(1, ge=1, le=8)


class TierConfig(StrictModel):
    """A device tier: a share of the clients, the device profile they run on and, optionally,
    a fixed architecture (otherwise the architecture is chosen to fit the profile)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    share: float = Field(gt=0.0, description="relative share of clients in this tier")
    profile: str | None = Field(None, description="device profile name (device_profiles/) or "
                                "path to a profile YAML")
    arch: ArchConfig | None = None


class SelectionConfig(StrictModel):
    """How tiers without a fixed `arch` get an architecture that fits their device profile."""

    policy: Literal["fixed", "largest_fit", "family_preference"] = Field(
        "fixed", description="fixed: the `model` section's architecture (checked against the "
        "profile); largest_fit: the most capable candidate that fits; family_preference: the "
        "largest fit of the first family in `families` that has one")
    families: list[str] | None = Field(None, description="candidate families, in preference "
                                       "order; null: every registered family")
    widths: list[float] = Field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0])
    depths: list[int] = Field(default_factory=lambda: [1, 2, 3])
    latency_budget_ms: float | None = Field(None, gt=0.0, description="max simulated device "
                                            "time of one training step at training.batch_size")
    on_no_fit: Literal["exclude", "error"] = Field("exclude", description="a tier whose device "
                                                   "fits nothing: drop its clients, or stop")
    host_profile: str | None = Field(None, description="profile name or YAML path of this host "
                                     "(from `python -m harmony_sim profile`); null: measured "
                                     "at start")

    @field_validator("widths")
    @classmethod
    def _widths_in_range(cls, widths: list[float]) -> list[float]:
        if not widths or any(not 0.0 < w <= 4.0 for w in widths):
            raise ValueError("give at least one width, each in (0, 4]")
        return sorted(set(widths))

    @field_validator("depths")
    @classmethod
    def _depths_in_range(cls, depths: list[int]) -> list[int]:
        if not depths or any(not 1 <= d <= 8 for d in depths):
            raise ValueError("give at least one depth, each in [1, 8]")
        return sorted(set(depths))


class ClientsConfig(StrictModel):
    """How many clients exist, how many take part in each round, and their device tiers."""

    count: int = Field(20, ge=1, le=1_000_000)
    per_round: int = Field(10, ge=1, description="participants sampled per round")
    tiers: list[TierConfig] = Field(default_factory=list, description="empty: one tier that "
                                    "uses the `model` section's architecture")
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    device_clock: Literal["measured", "flops"] = Field(
        "measured", description="measured: each training step's host time x host GFLOP/s / "
        "device GFLOP/s (CPU GFLOP/s: on a GPU use flops); flops: training FLOPs / device "
        "GFLOP/s, deterministic, so deadline runs reproduce exactly (tiers need a profile, or "
        "selection.host_profile)")

    @field_validator("tiers")
    @classmethod
    def _unique_tier_names(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        names = [t.name for t in tiers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tier names must be unique; repeated: {', '.join(duplicates)}")
        return tiers

    @model_validator(mode="after")
    def _per_round_fits(self) -> ClientsConfig:
        if self.per_round > self.count:
            raise ValueError(f"per_round ({self.per_round}) exceeds count ({self.count}); "
                             "lower clients.per_round")
        return self


class TrainingConfig(StrictModel):
    """Rounds and local optimisation."""

    rounds: int = Field(15, ge=1, le=100_000)
    local_epochs: int = Field(2, ge=1, le=100)
    batch_size: int = Field(16, ge=1, le=4096)
    lr: float = Field(0.05, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="client SGD momentum (a client's "
                            "optimiser is fresh each round: measured, 0.9 makes clients drift "
                            "on their few classes)")
    weight_decay: float = Field(0.0, ge=0.0)


class ServerConfig(StrictModel):
    """How the server back end trains. lockstep: one back end in the server actor; at every
    local step it takes all participants' cut tensors together, takes one optimiser step on the
    loss averaged over clients and returns each client's gradient (its optimiser state lives as
    long as the run). replicas: SplitFed-V1, each client trains its own copy of the back end next
    to it in its pool, and the copies are averaged after the round."""

    training: Literal["lockstep", "replicas"] = "lockstep"
    lr: float | None = Field(None, gt=0.0, le=10.0, description="server learning rate; null: "
                             "training.lr")
    momentum: float | None = Field(None, ge=0.0, lt=1.0, description="server SGD momentum; "
                                   "null: training.momentum")


class EvaluationConfig(StrictModel):
    """Hybrid inference evaluation: OOD ratios, exit rule and when to evaluate."""

    ood_ratios: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0])
    exit_rule: ExitRule = Field("energy", description="how the exit decides a sample is "
                                "one of the client's classes: entropy, confidence, energy or "
                                "mahalanobis (distance of the cut features to the client's class "
                                "means); see harmony_sim/evaluation/exit_rules.py")
    exit_threshold: float = Field(0.9, ge=0.0, le=1.0, description="a sample falls back to the "
                                  "server when its exit rule's score is above this share of the "
                                  "client's own training samples' scores (1: only samples outside "
                                  "the training range)")
    every: int | None = Field(None, ge=0, description="evaluate every N rounds, so the progress "
                              "bar, metrics.jsonl and the accuracy plot show the learning curve "
                              "(0: round 0 and the last round only; null: about 10 evaluations "
                              "over the run, every ceil(rounds / 10) rounds)")
    max_clients: int | None = Field(None, ge=1, description="evaluate at most this many clients "
                                     "(seeded sample); null: all")

    @field_validator("ood_ratios")
    @classmethod
    def _ratios_in_range(cls, ratios: list[float]) -> list[float]:
        if not ratios:
            raise ValueError("give at least one OOD ratio, e.g. [0.0, 0.5, 1.0]")
        bad = [r for r in ratios if not 0.0 <= r <= 10.0]
        if bad:
            raise ValueError(f"OOD ratios must lie in [0, 10], got {bad}")
        return sorted(set(ratios))


class RuntimeConfig(StrictModel):
    """Where clients run: a Ray instance (local or a cluster) or in-process."""

    backend: Literal["ray", "local"] = "ray"
    address: str | None = Field(None, description="Ray cluster address; null starts a local one")
    pool_actors: int | None = Field(None, ge=1, description="client pool actors; null: one per "
                                    "CPU Ray reports (at most 8)")
    threads_per_actor: int = Field(1, ge=1, le=256, description="torch threads per pool actor")
    gpus_per_actor: float | None = Field(None, ge=0.0, le=8.0, description="GPUs each pool and "
                                         "the server actor reserve; null: share the GPUs Ray "
                                         "reports among them (0 on CPU-only clusters)")
    personal_dtype: Literal["float32", "float16"] = Field(
        "float32", description="storage type of each client's personal weights between rounds "
        "(float16 halves a pool's memory for clients that trained)")
    on_actor_failure: Literal["rerun", "drop", "fail"] = Field(
        "rerun", description="a Ray pool or server actor that dies mid-round is restarted and "
        "its clients' state restored from the driver's copy of the last finished round; then "
        "rerun: the round runs again with every participant (same result as without the "
        "failure); drop: again without the clients the dead pool hosted (counted as dropped); "
        "fail: stop (the last checkpoint stays; continue with --resume)")
    max_actor_restarts: int = Field(3, ge=0, le=100, description="how often Ray restarts each "
                                    "pool and server actor over the run (0: never; a death "
                                    "then stops the run)")
    device: DeviceChoice = Field(
        "auto", description="where pools and the server actor train: auto = cuda when torch "
        "sees a GPU in that process, else cpu")
    vectorise: Literal["auto", "on", "off"] = Field(
        "auto", description="train a pool's participants of one architecture as one stacked "
        "model (grouped convolutions on CPU where the structure allows, torch.func vmap "
        "otherwise); auto = on for cuda, in turn on CPU (measured at 100 participants: stacked "
        "0.91-1.02x the speed of in turn with one thread a pool, 0.96-1.10x with two); "
        "BatchNorm models always train in turn; off = clients in turn")
    max_group: int | None = Field(
        None, ge=1, description="most clients stacked in one vectorised call; null: as many as "
        "half the memory budget holds at the client's estimated working set (on cuda this "
        "process's share of the GPU's total memory; on CPU the free memory, and at most 2 a "
        "call, 4 with several pool threads)")


class ParticipationConfig(StrictModel):
    """Who is online, who drops out mid-round, and the round deadline. The defaults (everyone
    online, no dropout, no deadline) select exactly `clients.per_round` clients each round."""

    availability: float | None = Field(None, gt=0.0, le=1.0, description="probability that a "
                                       "client is online in a round; null: each tier's device "
                                       "profile availability (1.0 without a profile)")
    trace: Path | None = Field(None, description="CSV with columns round,client_id,online (0/1); "
                               "listed (round, client) pairs override the probabilities")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="probability that a selected "
                           "client goes offline during the round and never reports")
    deadline_s: float | None = Field(None, gt=0.0, description="round deadline in simulated "
                                     "seconds; later reports are dropped as stragglers")
    over_selection: float = Field(0.0, ge=0.0, le=10.0, description="select "
                                  "ceil(per_round * (1 + x)) clients and aggregate the first "
                                  "per_round that report within the deadline")


class OutputConfig(StrictModel):
    """Where results go."""

    dir: Path = Field(Path("results"), description="parent folder of run directories")
    plots: bool = Field(True, description="PNG plots at the end of the run (matplotlib)")
    tensorboard: bool = Field(True, description="TensorBoard event files in <run>/tensorboard "
                              "as rounds finish, overall and per tier (needs the optional "
                              "extra: pip install -e .[tensorboard]; without it the run says "
                              "so once and goes on)")
    checkpoint_every: int = Field(10, ge=0, description="write checkpoint.pt every N rounds, "
                                  "after the last round and at Ctrl-C, so `--resume DIR` can "
                                  "continue the run (0: no checkpoints)")


NetworkCondition = Literal["profile", "wifi", "4g", "3g", "congested"]
Codec = Literal["fp32", "fp16", "int8"]


class LinkOverride(StrictModel):
    """Link figures that replace the device profile's / network condition's (null: keep)."""

    uplink_mbps: float | None = Field(None, gt=0.0, description="client -> server Mbit/s")
    downlink_mbps: float | None = Field(None, gt=0.0, description="server -> client Mbit/s")
    rtt_ms: float | None = Field(None, ge=0.0, description="round-trip propagation time")
    jitter_ms: float | None = Field(None, ge=0.0, description="std-dev of one-way delay variation")
    loss_rate: float | None = Field(None, ge=0.0, lt=1.0, description="packet loss probability")


class NetworkConfig(LinkOverride):
    """Each client's link for the fallback-inference study: its tier's device profile, or a
    named condition swept by the study, then these overrides (every client), then
    `tiers.<name>` overrides (one tier)."""

    conditions: list[NetworkCondition] = Field(default_factory=lambda: ["profile"],
                                               description="profile = each device's own link")
    jitter: Literal["exponential", "normal", "none"] = Field(
        "exponential", description="distribution of the one-way delay variation")
    retransmit_timeout_ms: float = Field(200.0, gt=0.0, description="extra delay per lost "
                                         "packet (Linux TCP minimum RTO)")
    tiers: dict[str, LinkOverride] = Field(default_factory=dict)

    @field_validator("conditions")
    @classmethod
    def _some_conditions(cls, conditions: list[str]) -> list[str]:
        if not conditions:
            raise ValueError("give at least one condition, e.g. [profile, wifi, 4g]")
        return list(dict.fromkeys(conditions))


class InferenceServerConfig(StrictModel):
    """The server answering fallback requests: `workers` parallel back ends, each serving one
    request at a time (FIFO queue)."""

    workers: int = Field(4, ge=1, le=1_000_000)
    profile: str | None = Field(None, description="device profile of the server; null: this "
                                "host's measured back-end time per request")
    speedup: float = Field(1.0, gt=0.0, description="divides the per-request service time")


class InferenceConfig(StrictModel):
    """Fallback inference over the simulated network (off by default): a request stream per
    client, early exit by the exit rule, a finite-capacity server, latency reports."""

    enabled: bool = False
    rule: ExitRule | None = Field(None, description="exit rule of the study (thresholds as in "
                                  "evaluation.exit_threshold); null: evaluation.exit_rule")
    thresholds: list[float] = Field(default_factory=lambda: [0.4], description="swept")
    codecs: list[Codec] = Field(default_factory=lambda: ["fp32"], description="cut tensor "
                                "encodings on the uplink, swept")
    ood_ratio: float = Field(0.5, ge=0.0, le=10.0, description="OOD requests per ID request")
    request_rate_hz: float = Field(1.0, gt=0.0, description="Poisson requests/s per client")
    duration_s: float = Field(60.0, gt=0.0, le=86_400.0, description="simulated time")
    sources: int | None = Field(None, ge=1, description="request sources in the latency study; "
                                "null: the evaluated clients")
    load_clients: list[int] = Field(default_factory=list, description="load sweep: numbers of "
                                    "active clients (empty: no sweep)")
    load_threshold: float | None = Field(None, description="threshold of the load sweep; null: "
                                         "the first of `thresholds`")
    response_bytes: int = Field(8, ge=1, description="downlink answer (class id + confidence)")
    slo_p95_ms: float | None = Field(None, gt=0.0, description="pick each tier's threshold to "
                                     "meet this p95 latency")
    server: InferenceServerConfig = Field(default_factory=InferenceServerConfig)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, values: list[float]) -> list[float]:
        if not values:
            raise ValueError("give at least one threshold, e.g. [0.2, 0.4, 0.6]")
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"thresholds must lie in [0, 1], got {bad}")
        return sorted(set(values))

    @field_validator("codecs")
    @classmethod
    def _some_codecs(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("give at least one codec, e.g. [fp32, int8]")
        return list(dict.fromkeys(values))

    @field_validator("load_clients")
    @classmethod
    def _positive_counts(cls, values: list[int]) -> list[int]:
        if any(v < 1 for v in values):
            raise ValueError(f"client counts must be >= 1, got {values}")
        return sorted(set(values))


class Scenario(StrictModel):
    """One simulation run. Defaults are the quickstart scenario."""

    name: str = Field("quickstart", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    clients: ClientsConfig = Field(default_factory=ClientsConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    algorithm: AlgorithmConfig = Field(default_factory=SplitGPConfig, description="the training "
                                       "algorithm and its own knobs, keyed by name (see "
                                       "`algorithm (<name>)` below)")
    server: ServerConfig = Field(default_factory=ServerConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    participation: ParticipationConfig = Field(default_factory=ParticipationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)

    @field_validator("algorithm", mode="before")
    @classmethod
    def _default_algorithm_name(cls, value: object) -> object:
        # The section is chosen by name; a section without one is the default algorithm's.
        if isinstance(value, dict) and "name" not in value:
            return {**value, "name": DEFAULT_ALGORITHM}
        return value
