"""The user-facing exception types, and how a pydantic validation error becomes their one line."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from harmony_sim.config_models import name_tags, section_models


class UserInputError(Exception):
    """Bad scenario, profile, name or override; the message names the field and the fix."""

    exit_code = 2


class RunFailure(Exception):
    """The run cannot go on (e.g. a Ray actor died beyond its restarts); printed as one line,
    exit 1. The last checkpoint stays, so `--resume DIR` continues from it."""

    exit_code = 1


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """First error as 'field.path: what is wrong (got X); allowed ...', plus a count of others."""
    errors = exc.errors()
    first = errors[0]
    loc, parent = _walk(model, [str(p) for p in first["loc"]])
    path = ".".join(loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = [f.alias or name for name, f in parent.model_fields.items()] if parent else []
        message = f"{path}: unknown field; allowed here: {', '.join(allowed)}"
    elif first["type"] == "union_tag_invalid":
        tags = first.get("ctx", {}).get("expected_tags", "")
        message = (f"{path}.name: unknown {path} {first['ctx']['tag']!r}; choose one of: "
                   f"{tags.replace(chr(39), '')}")
    else:
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = f"{path}: {first['msg'].removeprefix('Value error, ')}{shown}"
    if len(errors) > 1:
        message += f" [and {len(errors) - 1} more problem(s)]"
    return message


def _walk(model: type[BaseModel], loc: list[str]) -> tuple[list[str], type[BaseModel] | None]:
    """The location without the tags pydantic puts in for a discriminated union's member
    (algorithm.harmony.tau -> algorithm.tau), and the model holding its last field."""
    shown: list[str] = []
    current: type[BaseModel] | None = model
    parts = iter(loc)
    for part in parts:
        shown.append(part)
        field = current.model_fields.get(part) if current is not None else None
        if field is None:
            return shown + list(parts), current
        members = section_models(field.annotation)
        if len(members) > 1:  # a union: the next part names its member
            tag = next(parts, None)
            current = next((m for m in members if tag in name_tags(m)), None)
            if current is None and tag is not None:
                shown.append(tag)
        else:
            current = members[0] if members else None
    return shown, current
