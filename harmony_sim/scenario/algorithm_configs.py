"""The `algorithm` section: one config class per algorithm, chosen by `name` (a discriminated
union), so a scenario can set only the knobs its algorithm has. HARMONY's ablations are presets:
names that fix one of its flags."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harmony_sim.config_models import StrictModel, name_tags


class PersonalConfig(StrictModel):
    """Which client parts are personal, and how much: after a round a client keeps
    share * its own weights + (1 - share) * the global (aggregated) ones, per part. The default
    is the regime hybrid SFL exists for: a personal exit head for the client's own classes and a
    shared extractor trained by every client, so the server back end can answer any class."""

    head: float = Field(1.0, ge=0.0, le=1.0, description="personal share of the exit head "
                        "(1: fully personal; a mostly global head answers OOD classes itself and "
                        "fallback cannot help)")
    extractor: float = Field(0.0, ge=0.0, le=1.0, description="personal share of the extractor "
                             "(0: the architecture's global extractor; SplitGP's paper: 0.2)")


class SplitGPConfig(StrictModel):
    """SplitGP (Han et al., 2023): extractor + personal exit head on the device, one back end on
    the server; the client's loss is gamma * exit CE + (1 - gamma) * server CE."""

    name: Literal["splitgp"] = "splitgp"
    gamma: float = Field(0.5, ge=0.0, le=1.0, description="weight of the exit loss; the server "
                         "CE has 1 - gamma")
    personal: PersonalConfig = Field(default_factory=PersonalConfig,
                                     description="personal share (lambda) per client part")

    @model_validator(mode="before")
    @classmethod
    def _lambda_moved(cls, data: object) -> object:
        if isinstance(data, dict) and ("lambda" in data or "lam" in data):
            raise ValueError("algorithm.lambda was replaced by a personal share per part: set "
                             "algorithm.personal.head and algorithm.personal.extractor (SplitGP's "
                             "original mixing: both 0.2)")
        return data


class HeteroFLConfig(SplitGPConfig):
    """HeteroFL (Diao et al., 2021) in the hybrid split setting: SplitGP's protocol, with every
    extractor a width/depth slice of its family's supernet, averaged with per-parameter
    coverage."""

    name: Literal["heterofl"] = "heterofl"  # type: ignore[assignment]


# Ablation names and the flags they fix (the rest of HARMONY as configured).
HARMONY_PRESETS: dict[str, dict[str, Any]] = {
    "harmony": {},
    "harmony_no_meta": {"meta": False},
    "harmony_no_contrastive": {"contrastive": False},
    "harmony_shared_labels": {"labels": "shared"},
    "harmony_frozen_simulated": {"train_simulated": False},
}
HarmonyName = Literal["harmony", "harmony_no_meta", "harmony_no_contrastive",
                      "harmony_shared_labels", "harmony_frozen_simulated"]


class HarmonyConfig(SplitGPConfig):
    """HARMONY, the project's reconstruction (docs/algorithm.md): per-family supernets with a
    Reptile step, a first-order inner loop, simulated extractors drawn from the supernets,
    server-side InfoNCE alignment with a cross-round queue, and private labels. The names
    harmony_no_meta, harmony_no_contrastive, harmony_shared_labels and harmony_frozen_simulated
    are presets: HARMONY with that one flag fixed."""

    name: HarmonyName = "harmony"  # type: ignore[assignment]
    meta: bool = Field(True, description="meta-learning inner loop + simulated extractors "
                       "(false: ablation 'meta off')")
    contrastive: bool = Field(True, description="server-side InfoNCE alignment (false: ablation "
                              "'contrastive off', same as beta=0)")
    labels: Literal["private", "shared"] = Field(
        "private", description="private = the server returns logits and receives dL/dlogits "
        "(labels stay on the device); shared = SplitGP's cut+labels protocol")
    inner_steps: int = Field(1, ge=0, le=50, description="inner SGD steps on the exit loss over "
                             "the support half of each batch")
    inner_lr: float = Field(0.05, gt=0.0, le=10.0, description="inner-loop step size")
    meta_lr: float = Field(1.0, gt=0.0, le=1.0, description="Reptile step of each supernet "
                           "towards the mean of its trained slices (1: plain average)")
    simulated_extractors: int = Field(2, ge=0, le=16, description="extractors drawn from the "
                                      "supernets per client and round")
    param_noise_std: float = Field(0.01, ge=0.0, description="Gaussian noise std added to a "
                                   "simulated extractor's weights")
    train_simulated: bool = Field(True, description="the simulated extractors train too (the "
                                  "server's gradient on their views flows back into them) and "
                                  "their updates join their family's supernet, so every family "
                                  "learns every client's classes")
    simulated_weight: float = Field(1.0, ge=0.0, le=10.0, description="weight of a simulated "
                                    "extractor's update relative to the client's own "
                                    "(train_simulated)")
    cross_family: bool = Field(True, description="simulated extractors may come from another "
                               "family's supernet")
    tau: float = Field(0.1, gt=0.0, le=10.0, description="InfoNCE temperature")
    beta: float = Field(0.1, ge=0.0, le=100.0, description="weight of the contrastive loss")
    queue_size: int = Field(256, ge=0, le=1_000_000, description="negatives kept by the server "
                            "across rounds (MoCo-style queue of other clients' features)")
    projection_dim: int = Field(64, ge=2, le=4096, description="embedding size of the server's "
                                "projection head g")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        name = data.get("name", "harmony")
        fixed = HARMONY_PRESETS.get(name, {})
        for key, value in fixed.items():
            if key in data and data[key] != value:
                raise ValueError(f"{name} is HARMONY with {key}={value!r}; use name: harmony to "
                                 f"set {key} yourself")
        return {**data, **fixed}


class SplitFedConfig(StrictModel):
    """SplitFed (Thapa et al., 2022), SFL-V1: the extractor on the device, no exit head; the
    server back end answers every request. No knobs beyond the training section."""

    name: Literal["sfl"] = "sfl"


class FedAvgConfig(StrictModel):
    """FedAvg (McMahan et al., 2017): the whole model on the device (the largest architecture
    every client fits, then the back end's layers), averaged; no server at inference."""

    name: Literal["fedavg"] = "fedavg"


class LocalConfig(StrictModel):
    """Local training only: each client keeps its extractor and exit head; nothing is shared."""

    name: Literal["local"] = "local"


ALGORITHM_CONFIGS: tuple[type[StrictModel], ...] = (
    SplitGPConfig, HeteroFLConfig, HarmonyConfig, SplitFedConfig, FedAvgConfig, LocalConfig)
AlgorithmConfig = Annotated[
    SplitGPConfig | HeteroFLConfig | HarmonyConfig | SplitFedConfig | FedAvgConfig | LocalConfig,
    Field(discriminator="name")]
DEFAULT_ALGORITHM = "splitgp"


def algorithm_names() -> list[str]:
    """Every name `algorithm.name` accepts (presets included), in declaration order."""
    return [name for config in ALGORITHM_CONFIGS for name in name_tags(config)]


def algorithm_section(name: str) -> type[StrictModel] | None:
    """The config class of an algorithm name (None: no such algorithm)."""
    return next((c for c in ALGORITHM_CONFIGS if name in name_tags(c)), None)


def switch_algorithm(section: dict[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
    """The section for `name` after `--set algorithm.name=...` changed it: the knobs the new
    algorithm does not have are dropped (returned, so the caller can say so)."""
    config = algorithm_section(name)
    if config is None:
        return {**section, "name": name}, []  # validation names the allowed ones
    # The flags the old and the new preset fix are the names' to say, not the section's.
    fixed = {*HARMONY_PRESETS.get(section.get("name", ""), {}), *HARMONY_PRESETS.get(name, {})}
    kept = {k: v for k, v in section.items() if k in config.model_fields and k not in fixed}
    dropped = sorted(set(section) - set(kept) - {"name"})
    return {**kept, "name": name}, dropped
