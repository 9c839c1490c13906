"""The one check that `validate` and `run --dry-run` share: everything short of loading a model.

    python -m builders validate recipes/mix_high_temp.yaml       # these two run the same checks
    python -m builders run recipes/mix_high_temp.yaml --dry-run

After the schema (`config.load_recipe`), `check_recipe` reads every prompt source (lazily, at most what
`limits.max_requests` allows), expands the requests and checks the mixture against the planned pool, or
reads the built `pool` a composing recipe names and composes its mixture. Problems are raised as one
`RecipeError` with field paths. Nothing is written; `run` plans with the same `plan_requests`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builders.recipe import Recipe
from builders.requests import PlannedRequest, expand_requests
from builders.sources import load_prompts
from core.errors import RecipeError, TempdraftError
from registry.dataset import ALL_CONFIG, Manifest, config_files, read_manifest


def plan_requests(recipe: Recipe, base_dir: Path) -> list[PlannedRequest]:
    """Prompts -> requests for a sampling recipe, bounded by limits.max_requests before anything is built;
    a mixture the planned pool could never hold is refused here, before any sampling."""
    assert recipe.sampling is not None  # config.load_recipe requires it when there is no pool
    per_prompt = recipe.sampling.requests_per_prompt()
    prompts = load_prompts(recipe, base_dir, cap=recipe.limits.max_requests // per_prompt)
    if not prompts:
        raise RecipeError([("sources", "the sources gave no prompts")])
    requests = expand_requests(prompts, recipe.sampling, recipe.seed)
    if recipe.mixture is not None:
        from builders.mixture import check_mixture_fits

        check_mixture_fits(requests, recipe.mixture, recipe.seed)
    return requests


def plan_summary(recipe: Recipe, requests: list[PlannedRequest]) -> str:
    assert recipe.sampling is not None
    grid = recipe.sampling.temperature_grid()
    prompts = len({r.prompt.prompt_id for r in requests})
    budget = len(requests) * recipe.sampling.max_new_tokens
    shards = -(-len(requests) // recipe.output.shard_size)
    return (
        f"[plan] {recipe.name}: {prompts} prompts x {len(grid)} temperatures {grid} -> "
        f"{len(requests)} requests in {shards} shard(s); token budget <= {budget:,} new tokens "
        f"(max_new_tokens={recipe.sampling.max_new_tokens})"
    )


class PoolNotBuilt(RecipeError):
    """The recipe's pool names a dataset the catalog does not hold (yet): `validate` leaves it to `run`."""


def load_pool_rows(pool: str) -> tuple[Path, Manifest, Any]:
    """(folder, manifest, rows with their split) of the built dataset a composing recipe names."""
    import polars as pl

    from registry.resolve import resolve_dataset
    from registry.versions import UnknownDataset

    try:
        folder = resolve_dataset(pool)
        manifest = read_manifest(folder)
        rows = pl.concat(
            [
                pl.read_parquet(f).with_columns(pl.lit(split).alias("split"))
                for split in ("train", "validation")
                for f in config_files(folder, ALL_CONFIG, split)
            ],
            how="diagonal_relaxed",
        )
    except UnknownDataset as e:  # its own kind: validate defers this one check
        raise PoolNotBuilt([("pool", str(e))]) from None
    except TempdraftError as e:
        raise RecipeError([("pool", str(e))]) from None
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:  # a broken folder: one line, not a stack
        raise RecipeError([("pool", f"cannot read the pool {pool!r}: {str(e)[:300]}")]) from None
    return folder, manifest, rows


def check_recipe(recipe: Recipe, base_dir: Path, offline: bool = False) -> str:
    """Run every check `run` would make before sampling; return the plan line. Raises RecipeError.

    `offline` (validate): what needs the network (Hub sources) or a pool that is not built yet is not read;
    the plan line says so, and `run --dry-run` / `run` make those checks. Everything local is checked."""
    hub = [f"sources.{i}" for i, src in enumerate(recipe.sources) if src.kind == "hub"]
    if recipe.pool is None:
        if offline and hub:
            where = ", ".join(hub)
            return f"[plan] {recipe.name}: not planned offline: {where} read from the Hub at dry-run/run"
        return plan_summary(recipe, plan_requests(recipe, base_dir))
    from builders.mixture import compose_mixture

    assert recipe.mixture is not None  # config.load_recipe requires it with a pool
    try:
        _, _, rows = load_pool_rows(recipe.pool)
    except PoolNotBuilt:
        if not offline:
            raise
        return f"[plan] {recipe.name}: pool {recipe.pool} not built yet; mixture checked at dry-run/run"
    mixture_rows = compose_mixture(rows, recipe.mixture, recipe.seed)
    return (
        f"[plan] {recipe.name}: composing {mixture_rows.height} rows from {recipe.pool} "
        f"({rows.height} rows, temperatures {sorted(set(rows['temperature']))})"
    )
