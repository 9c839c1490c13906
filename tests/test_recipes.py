"""Every recipe under recipes/ loads and validates (schema + files + teacher names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.cli import main
from builders.config import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


def test_there_are_recipes():
    names = {p.name for p in RECIPES}
    assert {"mix_high_temp.yaml", "grid_pool.yaml", "single_temp.yaml", "uniform_mix.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(ROOT)) for p in RECIPES])
def test_recipe_validates(path, monkeypatch, shared_data):
    monkeypatch.chdir(ROOT)  # recipes name ../shared/data relative to the project root
    recipe = load_recipe(path)
    assert path.read_text().startswith("# python -m builders run recipes/"), "a recipe opens with its command"
    assert main(["validate", str(path)]) == 0
    assert recipe.name


def test_single_temp_is_parameterised_by_set(monkeypatch, shared_data):
    monkeypatch.chdir(ROOT)
    r = load_recipe(ROOT / "recipes/single_temp.yaml", ["sampling.temperatures=[0.3]"])
    assert r.sampling.temperature_grid() == [0.3]
