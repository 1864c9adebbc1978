"""Read a scenario YAML, apply `--set` overrides and turn every problem into one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harmony_sim.errors import UserInputError
from harmony_sim.scenario.schema import Scenario


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
            loaded = yaml.safe_load(text)
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
        apply_override(raw, override)
    return scenario_from_dict(raw, source)


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
        value = yaml.safe_load(text)
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


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """First error as 'field.path: what is wrong (got X); allowed ...', plus a count of others."""
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    path = ".".join(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        message = f"{path}: unknown field; allowed here: {', '.join(allowed)}"
    else:
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = f"{path}: {first['msg'].removeprefix('Value error, ')}{shown}"
    if len(errors) > 1:
        message += f" [and {len(errors) - 1} more problem(s)]"
    return message


def _allowed_fields(model: type[BaseModel], loc: list[str]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None) if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [f.alias or name for name, f in model.model_fields.items()]


def check_registered_names(scenario: Scenario, source: str) -> None:
    """Names that refer to registries (dataset, model family, algorithm) must exist."""
    # Imported here: the registries pull in torch, which plain schema checks do not need.
    from harmony_sim.algorithms import ALGORITHMS
    from harmony_sim.data import DATASETS
    from harmony_sim.models import FAMILIES

    named = [("data.dataset", scenario.data.dataset, DATASETS),
             ("model.family", scenario.model.family, FAMILIES),
             ("algorithm.name", scenario.algorithm.name, ALGORITHMS)]
    for i, tier in enumerate(scenario.clients.tiers):
        if tier.arch is not None:
            named.append((f"clients.tiers.{i}.arch.family", tier.arch.family, FAMILIES))
    for i, family in enumerate(scenario.clients.selection.families or []):
        named.append((f"clients.selection.families.{i}", family, FAMILIES))
    for field, value, registry in named:
        if value not in registry:
            raise UserInputError(f"{source}: {field}: unknown {registry.kind} {value!r}; "
                                 f"choose one of: {', '.join(registry.names())}")
