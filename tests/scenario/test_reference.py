"""docs/scenario-reference.md is generated from the schema and must be current."""

from __future__ import annotations

from pathlib import Path

from harmony_sim.scenario.reference import REFERENCE_PATH, scenario_reference

ROOT = Path(__file__).resolve().parents[2]


def test_scenario_reference_is_current() -> None:
    written = (ROOT / REFERENCE_PATH).read_text()
    assert written == scenario_reference(), (
        "docs/scenario-reference.md is stale: run python -m harmony_sim.scenario.reference")


def test_reference_lists_every_section_and_a_nested_field() -> None:
    text = scenario_reference()
    for section in ("## `data`", "## `algorithm.personal`", "## `server`",
                    "## `inference.server`"):
        assert section in text
    assert "| `exit_rule` |" in text
