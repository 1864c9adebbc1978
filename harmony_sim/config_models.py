"""The pydantic base of every scenario section and device profile, and how to walk the sections
a field holds (no other harmony_sim import: the error messages use it too)."""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def section_models(annotation: object) -> list[type[BaseModel]]:
    """The section models a field's annotation holds: one, or every member of a union (such as
    the algorithm section, chosen by name)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in section_models(arg)]


def name_tags(model: type[BaseModel]) -> tuple[str, ...]:
    """The `name` values that choose this member of a union (empty: it has no name field)."""
    field = model.model_fields.get("name")
    return typing.get_args(field.annotation) if field is not None else ()
