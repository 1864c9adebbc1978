"""The scenario reference (docs/scenario-reference.md), generated from the schema's fields so it
cannot drift from what the validator accepts: `python -m harmony_sim.scenario.reference`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from harmony_sim.config_models import name_tags, section_models
from harmony_sim.scenario.schema import Scenario

REFERENCE_PATH = Path("docs/scenario-reference.md")
HEADER = """# Scenario reference

Every field a scenario YAML may set, section by section, with its type, default and meaning.
Generated from `harmony_sim/scenario/schema.py` by `python -m harmony_sim.scenario.reference`
(a test keeps it current). Unknown fields are errors; `--set a.b=value` overrides any field.
Booleans are YAML 1.2's: `true` / `false` (an unquoted `on`, `off`, `yes` or `no` is a word,
which boolean fields also take).
"""


def _type_name(annotation: object) -> str:
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    for prefix in ("harmony_sim.scenario.schema.", "harmony_sim.scenario.algorithm_configs.",
                   "<class '", "'>"):
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


def _section(model: type[BaseModel], path: str, lines: list[str], title: str = "",
             done: set[tuple[type[BaseModel], str]] | None = None) -> None:
    done = set() if done is None else done
    if (model, path) in done and not title:  # algorithm.personal, shared by several algorithms
        return
    done.add((model, path))
    lines += ["", title or (f"## `{path}`" if path else "## top level"), ""]
    if model.__doc__:
        lines += [" ".join(model.__doc__.split()), ""]
    lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested: list[tuple[type[BaseModel], str, str]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        children = section_models(info.annotation)
        child_path = f"{path}.{key}" if path else key
        description = (info.description or "").replace("|", "\\|")
        type_name = _type_name(info.annotation)
        if len(children) > 1:  # a section per algorithm, chosen by its name
            type_name = "section chosen by `name`"
            nested += [(c, child_path, f"## `{child_path}` with name: "
                        + ", ".join(f"`{tag}`" for tag in name_tags(c))) for c in children]
        elif children:
            nested.append((children[0], child_path, ""))
            description = description or f"see `{child_path}`"
        lines.append(f"| `{key}` | `{type_name}` | `{_default(info)}` | {description} |")
    for child, child_path, title in nested:
        _section(child, child_path, lines, title, done)


def scenario_reference() -> str:
    lines = [HEADER.rstrip()]
    _section(Scenario, "", lines)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE_PATH
    target.write_text(scenario_reference())
    print(f"wrote {target}")
