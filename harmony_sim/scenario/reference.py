"""The scenario reference (docs/scenario-reference.md), generated from the schema's fields so it
cannot drift from what the validator accepts: `python -m harmony_sim.scenario.reference`."""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from harmony_sim.scenario.schema import Scenario

REFERENCE_PATH = Path("docs/scenario-reference.md")
HEADER = """# Scenario reference

Every field a scenario YAML may set, section by section, with its type, default and meaning.
Generated from `harmony_sim/scenario/schema.py` by `python -m harmony_sim.scenario.reference`
(a test keeps it current). Unknown fields are errors; `--set a.b=value` overrides any field.
"""


def _type_name(annotation: object) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    for prefix in ("harmony_sim.scenario.schema.", "<class '", "'>"):
        text = text.replace(prefix, "")
    return text.replace("|", "\\|")


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.is_required():
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value)


def _nested_model(annotation: object) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in typing.get_args(candidate):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _section(model: type[BaseModel], path: str, lines: list[str]) -> None:
    lines += ["", f"## `{path}`" if path else "## top level", ""]
    if model.__doc__:
        lines += [" ".join(model.__doc__.split()), ""]
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        child = _nested_model(info.annotation)
        description = (info.description or "").replace("|", "\\|")
        if child is not None:
            nested.append((child, f"{path}.{key}" if path else key))
            description = description or f"see `{nested[-1][1]}`"
        lines.append(f"| `{key}` | `{_type_name(info.annotation)}` | `{_default(info)}` "
                     f"| {description} |")
    for child, child_path in nested:
        _section(child, child_path, lines)


def scenario_reference() -> str:
    lines = [HEADER.rstrip()]
    _section(Scenario, "", lines)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE_PATH
    target.write_text(scenario_reference())
    print(f"wrote {target}")
