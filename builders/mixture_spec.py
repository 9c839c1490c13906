"""Schema of a recipe's `mixture` section: which temperatures of the pool, in which proportions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.schema import Strict


class TemperatureSelect(Strict):
    min: float = Field(ge=0, description="Lowest temperature selected (inclusive).")
    max: float = Field(ge=0, description="Highest temperature selected (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureSelect:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Component(Strict):
    temperatures: list[float] | TemperatureSelect = Field(
        description="Pool temperatures this component draws from: exact values, or {min, max}."
    )
    weight: float | None = Field(
        None, gt=0,
        description="Share of the mixture's size (`total_rows` or `fraction`); weights are normalised.",
    )
    rows: int | None = Field(None, gt=0, description="Exact number of rows instead of a weight.")

    @model_validator(mode="after")
    def _weight_or_rows(self) -> Component:
        if (self.weight is None) == (self.rows is None):
            raise ValueError("give exactly one of weight or rows")
        return self

    def selects(self, temperature: float) -> bool:
        t = self.temperatures
        if isinstance(t, TemperatureSelect):
            return t.min - 1e-9 <= temperature <= t.max + 1e-9
        return any(abs(temperature - x) < 1e-9 for x in t)


class Filters(Strict):
    finish_reason: list[Literal["stop", "length"]] | None = Field(
        None, description="Keep only rows with these finish reasons (e.g. [stop] drops truncated responses)."
    )
    min_tokens: int = Field(1, ge=0, description="Drop responses shorter than this many tokens.")
    max_tokens: int | None = Field(None, gt=0, description="Drop responses longer than this many tokens.")


class MixtureSpec(Strict):
    components: list[Component] = Field(min_length=1, description="Temperature components of the mixture.")
    total_rows: int | None = Field(
        None, gt=0,
        description="Rows in the mixture (train + validation), an absolute number. Give this or `fraction` "
        "when a component uses `weight`.",
    )
    fraction: float | None = Field(
        None, gt=0, le=1,
        description="Mixture size as a share of the pool: round(fraction x rows the pool holds, before "
        "filters and de-duplication). Follows the pool when its size changes (`--set sources.0.size=N`).",
    )
    balance_sources: bool = Field(True, description="Within a component, draw evenly from each prompt source.")
    filters: Filters = Field(default_factory=Filters, description="Row filters applied to the pool before drawing.")
    dedup: bool = Field(True, description="Drop rows whose (prompt, response) repeats another row.")
    replacement: bool = Field(False, description="Allow drawing a row more than once when a component asks for more than the pool holds.")

    @model_validator(mode="after")
    def _one_size(self) -> MixtureSpec:
        if self.total_rows is not None and self.fraction is not None:
            raise ValueError("give total_rows or fraction, not both")
        weighted = any(c.weight is not None for c in self.components)
        if weighted and self.total_rows is None and self.fraction is None:
            raise ValueError("total_rows or fraction is required when a component uses weight")
        return self

    def size(self, pool_rows: int) -> tuple[int | None, str]:
        """(rows the mixture should hold, the field that says so) for a pool of `pool_rows` rows."""
        if self.fraction is not None:
            return round(self.fraction * pool_rows), "mixture.fraction"
        return self.total_rows, "mixture.total_rows"
