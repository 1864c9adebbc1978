"""Split models: per-family extractors to a common cut tensor, exit heads, server back end."""

from harmony_sim.models.architecture import ArchSpec, CutSpec
from harmony_sim.models.families import FAMILIES
from harmony_sim.models.layout import place
from harmony_sim.models.split_model import (
    Extractor,
    build_exit_head,
    build_extractor,
    build_server_backend,
)

__all__ = ["FAMILIES", "ArchSpec", "CutSpec", "Extractor", "build_exit_head",
           "build_extractor", "build_server_backend", "place"]
