"""How the project reads YAML (scenarios, device profiles, saved run scenarios): PyYAML's safe
loader with YAML 1.2's booleans."""

from __future__ import annotations

import re
from typing import Any

import yaml

BOOL_TAG = "tag:yaml.org,2002:bool"


class YAML12BoolLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true / false. YAML 1.1 also reads an
    unquoted on / off / yes / no as a boolean, which turned `vectorise: on` into true; as strings
    they reach the schema, where boolean fields still take them (pydantic) and choices keep
    their spelling."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != BOOL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


YAML12BoolLoader.add_implicit_resolver(
    BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str) -> Any:
    """`text` as YAML with only true / false as booleans (YAML12BoolLoader)."""
    return yaml.load(text, Loader=YAML12BoolLoader)  # noqa: S506 (a SafeLoader subclass)
