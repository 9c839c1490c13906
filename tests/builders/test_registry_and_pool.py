"""Default output goes to the catalog as name@vN; identical reruns reuse it; a `pool:` recipe composes
a mixture from that version without loading the teacher."""

from __future__ import annotations

import datasets
import polars as pl
import pytest
import yaml

from builders.build import run_build
from builders.config import load_recipe
from core.errors import RecipeError
from registry.resolve import resolve_dataset


def test_register_reuse_and_compose(write_recipe, tmp_path):
    data = yaml.safe_load(write_recipe().read_text())
    del data["output"]["dir"]
    data["sampling"]["max_new_tokens"] = 8
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(data))
    recipe = load_recipe(path)

    first = run_build(recipe, tmp_path, "python -m builders run pool.yaml")
    assert first.version == "tiny@v1"
    assert resolve_dataset("tiny@latest") == first.path

    again = run_build(recipe, tmp_path, "python -m builders run pool.yaml")
    assert again.reused and again.version == "tiny@v1"

    command = "python -m builders run pool.yaml --set seed=4"
    changed = run_build(load_recipe(path, ["seed=4"]), tmp_path, command)
    assert changed.version == "tiny@v2"

    mix = {"name": "tiny_mix", "seed": 9, "pool": "tiny@v1",
           "mixture": {"total_rows": 20, "components": [{"temperatures": [1.0], "rows": 12},
                                                        {"temperatures": {"min": 0.0, "max": 0.7}, "rows": 8}]}}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mix))
    composed = run_build(load_recipe(tmp_path / "mix.yaml"), tmp_path, "python -m builders run mix.yaml")
    assert composed.version == "tiny_mix@v1"
    ds = datasets.load_dataset(str(composed.path))
    rows = pl.concat([ds[s].to_polars() for s in ds])
    assert rows.height == 20 and (rows["temperature"] == 1.0).sum() == 12
    pool_rows = pl.read_parquet(first.path / "data/t*/*.parquet")
    assert set(rows["request_id"]) <= set(pool_rows["request_id"])  # composed, not resampled
    # the pool's prompt split is kept
    pool_val = set(pl.read_parquet(first.path / "data/t*/validation-*.parquet")["prompt_id"])
    assert set(rows.filter(pl.col("request_id").is_in(ds["validation"]["request_id"]))["prompt_id"]) <= pool_val

    too_many = {**mix, "mixture": {"total_rows": 500, "components": [{"temperatures": [1.0], "weight": 1}]}}
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(too_many))
    with pytest.raises(RecipeError, match="pool holds 28"):
        run_build(load_recipe(tmp_path / "big.yaml"), tmp_path, "python -m builders run big.yaml")


def test_mixture_too_big_fails_before_sampling(write_recipe, tmp_path):
    path = write_recipe(mixture={"total_rows": 100, "components": [{"temperatures": [0.0], "weight": 1}]})
    with pytest.raises(RecipeError, match="pool holds 14"):
        run_build(load_recipe(path), tmp_path, "python -m builders run recipe.yaml")
    assert not (tmp_path / "out.work").exists()  # nothing sampled, nothing written
