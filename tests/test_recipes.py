"""Every recipe under recipes/ loads and validates (schema + files + teacher names + sources read + plan),
also from a copy of recipes/ outside the checkout (a fresh clone has no ../shared/data).

    .venv/bin/python -m pytest tests/test_recipes.py -q
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builders.check import check_recipe
from builders.cli import main
from builders.config import load_recipe
from core.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


def test_there_are_recipes():
    names = {p.name for p in RECIPES}
    assert {"mix_high_temp.yaml", "grid_pool.yaml", "single_temp.yaml", "uniform_mix.yaml"} <= names


@pytest.fixture
def recipes_copy(tmp_path, monkeypatch) -> Path:
    """recipes/ copied to an unrelated folder, which is also the working directory."""
    copy = tmp_path / "clone" / "recipes"
    shutil.copytree(ROOT / "recipes", copy)
    monkeypatch.chdir(tmp_path)
    return copy


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(ROOT)) for p in RECIPES])
def test_recipe_validates_outside_the_checkout(path, recipes_copy):
    copy = recipes_copy / path.relative_to(ROOT / "recipes")
    recipe = load_recipe(copy)
    assert path.read_text().startswith("# python -m builders run recipes/"), "a recipe opens with its command"
    # Tests run offline in an empty home: `validate` stays offline and passes every shipped recipe, saying
    # which check it left to dry-run (a Hub source, a pool not built yet); dry-run's checks refuse exactly
    # those fields here and nothing else.
    offline = {"pool"} | {f"sources.{i}.dataset" for i, s in enumerate(recipe.sources) if s.kind == "hub"}
    assert main(["validate", str(copy)]) == 0
    try:
        check_recipe(recipe, copy.parent)
    except RecipeError as e:
        assert {p for p, _ in e.problems} <= offline, e.problems
        assert "dry-run/run" in check_recipe(recipe, copy.parent, offline=True)
    assert recipe.name


@pytest.mark.parametrize("name", ["mix_high_temp", "grid_pool", "single_temp"])
def test_sampling_recipes_dry_run_outside_the_checkout(name, recipes_copy, capsys):
    assert main(["run", str(recipes_copy / f"{name}.yaml"), "--dry-run"]) == 0
    assert f"[plan] {name}:" in capsys.readouterr().out


@pytest.mark.parametrize("size", [8, 64])
def test_one_override_resizes_mix_high_temp(size, recipes_copy, capsys):
    # README: "change its size with one override"; the mixture is a fraction of the pool, so it follows.
    assert (
        main(
            ["run", str(recipes_copy / "mix_high_temp.yaml"), "--dry-run", "--set", f"sources.0.size={size}"]
        )
        == 0
    )
    assert f"{size} prompts x 6 temperatures" in capsys.readouterr().out


def test_single_temp_is_parameterised_by_set(recipes_copy):
    r = load_recipe(recipes_copy / "single_temp.yaml", ["sampling.temperatures=[0.3]"])
    assert r.sampling.temperature_grid() == [0.3]
