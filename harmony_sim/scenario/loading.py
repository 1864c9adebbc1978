"""Read a scenario YAML, apply `--set` overrides and turn every problem into one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harmony_sim.data import DATASETS
from harmony_sim.errors import UserInputError, describe_validation_error
from harmony_sim.models import FAMILIES
from harmony_sim.scenario.algorithm_configs import DEFAULT_ALGORITHM, switch_algorithm
from harmony_sim.scenario.schema import Scenario
from harmony_sim.yaml_reading import parse_yaml

log = logging.getLogger(__name__)


def load_scenario(path: str | Path | None, overrides: list[str] | None = None) -> Scenario:
    """Load and validate `path` (None: the built-in quickstart defaults) with `key.path=value`
    overrides applied; raises UserInputError with a one-line message on any problem."""
    source = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if file.is_dir():
            raise UserInputError(f"{source}: is a folder, not a scenario file; pass a path to a "
                                 "YAML file such as scenarios/quickstart.yaml")
        if not file.is_file():
            raise UserInputError(f"{source}: no such scenario file; pass a path to a YAML file "
                                 "such as scenarios/quickstart.yaml")
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            raise UserInputError(f"{source}: not a text file (binary data); a scenario is a "
                                 "YAML text file such as scenarios/quickstart.yaml") from None
        except OSError as exc:
            raise UserInputError(f"{source}: cannot read it ({exc.strerror}); check the path "
                                 "and its permissions") from None
        if "\x00" in text:
            raise UserInputError(f"{source}: not a text file (binary data); a scenario is a "
                                 "YAML text file such as scenarios/quickstart.yaml")
        try:
            loaded = parse_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise UserInputError(f"{source}: YAML syntax error{where}: {problem}") from None
        if loaded is None:
            raise UserInputError(f"{source}: the file is empty; give at least one section "
                                 "(e.g. `training: {rounds: 3}`), or pass no scenario to run the "
                                 "quickstart defaults")
        if not isinstance(loaded, dict):
            raise UserInputError(f"{source}: the top level must be a mapping of sections "
                                 f"(data, model, clients, ...), got {type(loaded).__name__}")
        raw = loaded
    for override in overrides or []:
        if override.partition("=")[0].strip() == "algorithm.name":
            switch_to(raw, override)
        else:
            apply_override(raw, override)
    return scenario_from_dict(raw, source)


def switch_to(raw: dict[str, Any], override: str) -> None:
    """`--set algorithm.name=X`: the section becomes X's, keeping the knobs X has too (gamma,
    personal, ...) and dropping the others, with a line in the log saying which."""
    section = raw.get("algorithm") or {}
    if not isinstance(section, dict):
        raise UserInputError(f"--set {override!r}: 'algorithm' is a value, not a section")
    section = {"name": DEFAULT_ALGORITHM, **section}
    name = str(parse_yaml(override.partition("=")[2]))
    raw["algorithm"], dropped = switch_algorithm(section, name)
    if dropped and name != section["name"]:
        log.info("algorithm.name=%s: left out the knobs it does not have: %s", name,
                 ", ".join(dropped))


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in the nested mapping (an integer part indexes a list, as in
    `clients.tiers.0.profile=pixel_6a`); the value is parsed as YAML (3, 0.5, true, [1, 2])."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise UserInputError(f"--set {override!r}: expected KEY.PATH=VALUE, "
                             "e.g. --set training.rounds=3")
    parts = key.strip().split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, override, last=parts[depth + 1])
    try:
        value = parse_yaml(text)
    except yaml.YAMLError:
        value = text
    if isinstance(node, list):
        node[_list_index(node, parts[-1], override)] = value
    else:
        node[parts[-1]] = value


def _child(node: Any, part: str, override: str, last: str) -> Any:
    """The container under `part`, created as a mapping when absent."""
    if isinstance(node, list):
        child = node[_list_index(node, part, override)]
    else:
        child = node.setdefault(part, {})
    if not isinstance(child, dict | list):
        raise UserInputError(f"--set {override!r}: {part!r} is a value, not a section")
    return child


def _list_index(items: list[Any], part: str, override: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise UserInputError(f"--set {override!r}: {part!r} is not an index of a list of "
                             f"{len(items)}; use 0 to {len(items) - 1}")
    return int(part)


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a raw mapping into a Scenario, then check registered names."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise UserInputError(f"{source}: {describe_validation_error(exc, Scenario)}") from None
    check_registered_names(scenario, source)
    return scenario


def check_registered_names(scenario: Scenario, source: str) -> None:
    """Names that refer to registries (dataset, model family) must exist (algorithm names are
    the schema's own: one config section per algorithm)."""
    named = [("data.dataset", scenario.data.dataset, DATASETS),
             ("model.family", scenario.model.family, FAMILIES)]
    for i, tier in enumerate(scenario.clients.tiers):
        if tier.arch is not None:
            named.append((f"clients.tiers.{i}.arch.family", tier.arch.family, FAMILIES))
    for i, family in enumerate(scenario.clients.selection.families or []):
        named.append((f"clients.selection.families.{i}", family, FAMILIES))
    for field, value, registry in named:
        if value not in registry:
            raise UserInputError(f"{source}: {field}: unknown {registry.kind} {value!r}; "
                                 f"choose one of: {', '.join(registry.names())}")
