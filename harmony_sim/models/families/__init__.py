"""Model families: each module registers a builder of the `features` trunk for an ArchSpec."""

from harmony_sim.models.families.registry import FAMILIES, FamilyBuilder

# Importing a family module registers it.
from harmony_sim.models.families import plain_cnn  # noqa: E402,F401  isort: skip
from harmony_sim.models.families import resnet  # noqa: E402,F401  isort: skip
from harmony_sim.models.families import mobilenet  # noqa: E402,F401  isort: skip

__all__ = ["FAMILIES", "FamilyBuilder"]
