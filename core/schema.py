"""The one base for every config schema (recipes, mixtures, distill and search configs).

    from core.schema import Strict
    class Section(Strict):
        size: int = Field(description="...")

Unknown keys are errors, so a typo never passes silently; a validated config is frozen (hashable,
fingerprinted as it is); every number is finite (no `.inf`/`.nan` reaches arithmetic).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
