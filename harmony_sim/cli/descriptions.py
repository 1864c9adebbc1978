"""One-line descriptions from where things are defined (docstrings, YAML header comments), so
what `list` prints cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

DESCRIPTION_CHARS = 100  # so that a name and its line fit a terminal


def first_sentence(text: str | None) -> str:
    """The first sentence of a docstring or comment, on one line of at most DESCRIPTION_CHARS."""
    if not text:
        return "(no description)"
    flat = " ".join(text.split())
    for end in (". ", "; "):
        if end in flat:
            flat = flat.split(end, 1)[0]
    flat = flat.rstrip(".")
    if len(flat) > DESCRIPTION_CHARS:
        flat = flat[:DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0].rstrip(",:;") + "…"
    return flat


def header_comment(path: Path) -> str:
    """The comment block a YAML file opens with, without the `#` marks."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)
