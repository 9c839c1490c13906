"""Load a recipe: YAML -> dotted `--set` overrides -> pydantic -> checks that need the filesystem.

The first two steps and the pydantic error paths are `core.yamlconfig`, shared with distill and evaluate.

Every problem is collected and raised once as a `RecipeError` naming each field path.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from builders.recipe import FileSource, HubSource, Recipe
from core.errors import RecipeError
from core.yamlconfig import apply_overrides, pydantic_problems, read_mapping

OFFLINE_TEACHERS = ("smollm2-135m-instruct",)

# Discriminated unions put the tag ('file', 'hub', ...) and model names in an error's location.
_UNION_PARTS = ("hub", "file", "generator", "temperature-list", "temperature-range")
_UNION_PREFIXES = ("list[", "function-", "TemperatureSelect")


def semantic_problems(recipe: Recipe, base_dir: Path) -> list[tuple[str, str]]:
    """Checks pydantic cannot make alone: sections that go together, files exist, teacher is resolvable,
    planned work within `limits`. Reading the sources is `check.check_recipe`."""
    problems: list[tuple[str, str]] = []
    if recipe.pool is None:
        for key in ("teacher", "sampling"):
            if getattr(recipe, key) is None:
                problems.append((key, "required when the recipe samples (or give `pool` to compose a built dataset)"))
        if not recipe.sources:
            problems.append(("sources", "at least one prompt source is required when the recipe samples"))
    else:
        if recipe.sources or recipe.sampling is not None:
            problems.append(("pool", "a recipe composing from `pool` takes no `sources` or `sampling`"))
        if recipe.mixture is None:
            problems.append(("mixture", "a recipe composing from `pool` needs a mixture"))
    if recipe.teacher is not None:
        model = recipe.teacher.model
        looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
        if model.lower() in OFFLINE_TEACHERS:
            pass
        elif looks_local:
            folder = (base_dir / Path(model).expanduser()) if not Path(model).is_absolute() else Path(model)
            if not (Path(model).expanduser() / "config.json").is_file() and not (folder / "config.json").is_file():
                problems.append(("teacher.model", f"local model folder {model!r} has no config.json"))
        elif model.count("/") != 1 or any(not part for part in model.split("/")):
            problems.append(
                ("teacher.model", f"unknown teacher {model!r}: use an offline alias {list(OFFLINE_TEACHERS)}, "
                 "a Hub id 'org/name' or a local folder")
            )
    for i, src in enumerate(recipe.sources):
        if isinstance(src, FileSource):
            from builders.sources import resolve_path

            file = resolve_path(src.path, base_dir)
            if not file.is_file():
                problems.append((f"sources.{i}.path", f"no such file: {file}"))
        # Every record's columns are checked when the prompts are read (check.check_recipe, `validate`).
        if isinstance(src, FileSource | HubSource) and src.prompt_column is None and src.template is None:
            problems.append((f"sources.{i}", "give prompt_column or template"))
    bounds = recipe.bound_problems()  # before anything below builds the grid
    problems += bounds
    if recipe.mixture is not None and recipe.sampling is not None and not bounds:
        grid = recipe.sampling.temperature_grid()
        for j, comp in enumerate(recipe.mixture.components):
            if not any(comp.selects(t) for t in grid):
                problems.append((f"mixture.components.{j}.temperatures",
                                 f"selects no temperature of the grid {grid[:50]}"))
    return problems


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read, override, validate. Raises RecipeError listing every problem; never returns a half-valid recipe."""
    path = Path(path)
    data = read_mapping(path, "recipe", RecipeError)
    apply_overrides(data, overrides, "recipe", RecipeError)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(pydantic_problems(e, _UNION_PARTS, _UNION_PREFIXES), origin=str(path)) from None
    problems = semantic_problems(recipe, path.parent)
    if problems:
        raise RecipeError(problems, origin=str(path))
    return recipe
