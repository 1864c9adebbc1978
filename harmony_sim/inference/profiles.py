"""What the latency study needs before training starts: its device profiles (loaded up front, so
a bad one fails the run before anything is written) and the codecs the final evaluation runs."""

from __future__ import annotations

from harmony_sim.devices import DeviceProfile, resolve_profile
from harmony_sim.errors import UserInputError
from harmony_sim.network.codecs import Codec
from harmony_sim.population import assign_tiers
from harmony_sim.scenario import Scenario
from harmony_sim.selection import evaluation_clients


def inference_codecs(scenario: Scenario) -> list[Codec]:
    """Lossy codecs the final evaluation must run the server on (none when the study is off)."""
    if not scenario.inference.enabled:
        return []
    return [c for c in scenario.inference.codecs if c != "fp32"]


def load_inference_profiles(scenario: Scenario) -> dict[str, DeviceProfile]:
    """Every device profile the study needs, loaded up front so a bad profile (or a tier with no
    evaluated client to replay) fails the run before training with a one-line UserInputError."""
    if not scenario.inference.enabled:
        return {}
    tiers = scenario.clients.tiers
    if not tiers:
        raise UserInputError("inference.enabled: the latency study needs clients.tiers, each "
                             "with a device profile (e.g. {name: low, share: 1, profile: "
                             "raspberry_pi_4})")
    names = []
    for i, tier in enumerate(tiers):
        if tier.profile is None:
            raise UserInputError(f"clients.tiers.{i}.profile: the latency study needs a device "
                                 f"profile for tier {tier.name!r}")
        names.append(tier.profile)
    unknown = sorted(set(scenario.network.tiers) - {t.name for t in tiers})
    if unknown:
        raise UserInputError(f"network.tiers: unknown tier(s) {', '.join(unknown)}; tiers are: "
                             f"{', '.join(t.name for t in tiers)}")
    evaluated_ids = set(evaluation_clients(scenario))
    evaluated = {t.name for cid, t in enumerate(assign_tiers(scenario))
                 if t is not None and cid in evaluated_ids}
    missing = [t.name for t in tiers if t.name not in evaluated]
    if missing:
        raise UserInputError(f"evaluation.max_clients: no client of tier(s) {', '.join(missing)} "
                             "is evaluated, and the latency study replays evaluated clients; "
                             "raise evaluation.max_clients or the tier's share")
    if scenario.inference.server.profile is not None:
        names.append(scenario.inference.server.profile)
    return {name: resolve_profile(name) for name in names}  # a name or a YAML path
