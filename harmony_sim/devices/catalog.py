"""Find and load device profiles: `device_profiles/<name>.yaml`, validated into DeviceProfile."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from harmony_sim.devices.profile import DeviceProfile
from harmony_sim.errors import UserInputError, describe_validation_error
from harmony_sim.yaml_reading import parse_yaml

PROFILES_ENV = "HARMONY_SIM_PROFILES"


def profiles_dir() -> Path:
    """$HARMONY_SIM_PROFILES, else device_profiles/ beside the package (source checkout and
    editable install), else <prefix>/share/harmony_sim/device_profiles (a wheel install)."""
    override = os.environ.get(PROFILES_ENV)
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2] / "device_profiles"
    installed = Path(sys.prefix) / "share" / "harmony_sim" / "device_profiles"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


def resolve_profile(ref: str) -> DeviceProfile:
    """A profile by name (device_profiles/<name>.yaml) or by path to a YAML file, such as the
    host profile `python -m harmony_sim profile --out host.yaml` writes."""
    if ref.endswith((".yaml", ".yml")):
        return load_profile_file(Path(ref))
    return load_profile(ref)


def available_profiles(directory: Path | None = None) -> list[str]:
    folder = directory or profiles_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_profile_file(path: Path) -> DeviceProfile:
    """Validate one profile YAML; any problem is a one-line UserInputError naming the field."""
    try:
        raw = parse_yaml(path.read_text())
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read profile ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{path}: a profile must be a mapping of fields (name, tier, ...)")
    try:
        return DeviceProfile.model_validate(raw)
    except ValidationError as exc:
        raise UserInputError(f"{path}: {describe_validation_error(exc, DeviceProfile)}") from None


def load_profile(name: str, directory: Path | None = None) -> DeviceProfile:
    """The profile called `name` (file stem) from `directory` (default: profiles_dir(), read
    when called, so a changed $HARMONY_SIM_PROFILES is honoured)."""
    return _load_profile(name, (directory or profiles_dir()).resolve())


@cache
def _load_profile(name: str, folder: Path) -> DeviceProfile:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_profiles(folder)) or "(none found)"
        raise UserInputError(f"device profile {name!r} not found in {folder}; choose one of: "
                             f"{known}")
    return load_profile_file(path)
