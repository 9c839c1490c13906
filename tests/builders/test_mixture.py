"""Mixture composition on a synthetic pool table (the composition step reads rows, not models)."""

from __future__ import annotations

import polars as pl
import pytest

from builders.assemble import assign_split
from builders.mixture import compose_mixture
from builders.mixture_spec import MixtureSpec
from core.errors import RecipeError

TEMPS = [0.0, 0.3, 0.7, 1.0]


def pool(prompts: int = 40, samples: int = 3) -> pl.DataFrame:
    rows = []
    for p in range(prompts):
        source = "gsm8k" if p % 4 else "dolly"  # 3:1 source imbalance
        for t in TEMPS:
            for s in range(1 if t == 0 else samples):
                rows.append({"request_id": f"p{p:03d}-t{t}-s{s}", "prompt_id": f"p{p:03d}", "source": source,
                             "response": f"r{p}-{t}-{s}", "temperature": t, "num_tokens": 5 + (p + s) % 30,
                             "finish_reason": "length" if (p + s) % 5 == 0 else "stop"})
    return assign_split(pl.DataFrame(rows), 0.2, seed=0)


def spec(**kw) -> MixtureSpec:
    return MixtureSpec.model_validate(kw)


def test_weights_give_exact_proportions():
    m = compose_mixture(pool(), spec(total_rows=100, components=[
        {"temperatures": [1.0], "weight": 0.5}, {"temperatures": {"min": 0.3, "max": 0.7}, "weight": 0.3},
        {"temperatures": [0.0], "weight": 0.2}]), seed=1)
    counts = dict(m.group_by("mixture_component").len().iter_rows())
    assert counts == {0: 50, 1: 30, 2: 20}
    assert set(m.filter(pl.col("mixture_component") == 1)["temperature"]) <= {0.3, 0.7}
    assert m["request_id"].is_unique().all()


def test_rows_and_weights_combine_and_overlap_never_repeats():
    m = compose_mixture(pool(), spec(total_rows=90, components=[
        {"temperatures": [1.0], "rows": 60}, {"temperatures": {"min": 0.7, "max": 1.0}, "weight": 1}]), seed=1)
    assert m.height == 90 and m["request_id"].is_unique().all()


def test_split_disjoint_and_inherited():
    m = compose_mixture(pool(), spec(total_rows=80, components=[{"temperatures": {"min": 0, "max": 1}, "weight": 1}]),
                        seed=2)
    train = set(m.filter(pl.col("split") == "train")["prompt_id"])
    val = set(m.filter(pl.col("split") == "validation")["prompt_id"])
    assert train and val and not train & val


def test_deterministic_and_seed_sensitive():
    s = spec(total_rows=50, components=[{"temperatures": [0.7, 1.0], "weight": 1}])
    a, b, c = (compose_mixture(pool(), s, seed=k) for k in (5, 5, 6))
    assert a.equals(b)
    assert set(a["request_id"]) != set(c["request_id"])


def test_balance_sources():
    s = dict(total_rows=40, components=[{"temperatures": [1.0], "weight": 1}])
    balanced = compose_mixture(pool(), spec(**s, balance_sources=True), seed=0)
    assert dict(balanced.group_by("source").len().iter_rows()) == {"gsm8k": 20, "dolly": 20}
    natural = compose_mixture(pool(), spec(**s, balance_sources=False), seed=0)
    assert dict(natural.group_by("source").len().iter_rows())["gsm8k"] > 25


def test_filters_and_dedup():
    p = pool()
    p = pl.concat([p, p.head(5).with_columns(pl.col("request_id") + "-dup")])  # same prompt+response twice
    m = compose_mixture(p, spec(total_rows=30, filters={"finish_reason": ["stop"], "min_tokens": 10, "max_tokens": 20},
                                components=[{"temperatures": {"min": 0, "max": 1}, "weight": 1}]), seed=0)
    assert set(m["finish_reason"]) == {"stop"}
    assert m["num_tokens"].min() >= 10 and m["num_tokens"].max() <= 20
    assert m.select("prompt_id", "response").is_unique().all()


def test_too_many_rows_says_how_many_exist():
    with pytest.raises(RecipeError) as err:
        compose_mixture(pool(), spec(total_rows=500, components=[{"temperatures": [0.0], "weight": 1},
                                                                 {"temperatures": [0.5], "rows": 3}]), seed=0)
    problems = dict(err.value.problems)
    assert "pool holds 40" in problems["mixture.components.0.weight"]
    assert "selects no temperature" in problems["mixture.components.1.temperatures"]


def test_replacement_only_when_asked():
    m = compose_mixture(pool(), spec(total_rows=60, replacement=True,
                                     components=[{"temperatures": [0.0], "weight": 1}]), seed=0)
    assert m.height == 60 and m["request_id"].n_unique() == 40


def test_total_rows_must_match_fixed_rows():
    with pytest.raises(RecipeError, match="total_rows"):
        compose_mixture(pool(), spec(total_rows=10, components=[{"temperatures": [1.0], "rows": 5}]), seed=0)


def test_fraction_follows_the_pool():
    components = [{"temperatures": [1.0], "weight": 1}, {"temperatures": [0.0], "weight": 1}]
    big, small = pool(prompts=40), pool(prompts=8)  # 40 * 10 and 8 * 10 rows
    assert compose_mixture(big, spec(fraction=0.2, components=components), seed=0).height == 80
    assert compose_mixture(small, spec(fraction=0.2, components=components), seed=0).height == 16
    with pytest.raises(RecipeError, match=r"mixture.components.1.weight: asks for 40 rows"):
        compose_mixture(small, spec(fraction=1.0, components=components), seed=0)


def test_fraction_or_total_rows_not_both():
    with pytest.raises(ValueError, match="total_rows or fraction, not both"):
        spec(total_rows=10, fraction=0.5, components=[{"temperatures": [1.0], "weight": 1}])
    with pytest.raises(ValueError, match="total_rows or fraction is required"):
        spec(components=[{"temperatures": [1.0], "weight": 1}])
