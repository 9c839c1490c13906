"""End to end on a tiny real Llama: recipe -> transformers engine -> Parquet configs -> load_dataset."""

from __future__ import annotations

import json

import datasets
import polars as pl
import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from builders.build import plan, run_build
from builders.config import load_recipe


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_teacher, shared_data):
    from tests.builders.conftest import tiny_recipe

    tmp = tmp_path_factory.mktemp("e2e")
    recipe_path = tmp / "r.yaml"
    data = tiny_recipe(tiny_teacher, shared_data, tmp / "out")
    data["sampling"]["topk_logprobs"] = 4
    data["mixture"] = {"total_rows": 20, "components": [{"temperatures": [1.0], "weight": 3},
                                                        {"temperatures": {"min": 0.0, "max": 0.7}, "weight": 1}]}
    recipe_path.write_text(yaml.safe_dump(data))
    recipe = load_recipe(recipe_path)
    result = run_build(recipe, tmp, f"python -m builders run {recipe_path}")
    return recipe, result


def test_every_request_becomes_one_row(built):
    recipe, result = built
    expected = {r.request_id for r in plan(recipe, result.path.parent)}
    rows = pl.read_parquet(result.path / "data/t*/*.parquet")
    assert sorted(rows["request_id"].to_list()) == sorted(expected)
    # greedy gets one sample, T > 0 gets samples_per_prompt
    per_t = dict(rows.group_by("temperature").len().iter_rows())
    assert per_t == {0.0: 14, 0.7: 28, 1.0: 28}


def test_load_dataset_shows_every_temperature(built):
    _, result = built
    for config, t in (("t0_0", 0.0), ("t0_7", 0.7), ("t1_0", 1.0)):
        ds = datasets.load_dataset(str(result.path), config)
        assert set(ds) == {"train", "validation"}
        assert set(ds["train"]["temperature"]) == {t}
    everything = datasets.load_dataset(str(result.path), "all")
    assert sum(len(s) for s in everything.values()) == 70
    mixture = datasets.load_dataset(str(result.path))  # default config = mixture
    assert sum(len(s) for s in mixture.values()) == 20


def test_split_is_by_prompt(built):
    _, result = built
    train = set(pl.read_parquet(result.path / "data/t*/train-*.parquet")["prompt_id"])
    val = set(pl.read_parquet(result.path / "data/t*/validation-*.parquet")["prompt_id"])
    assert train and val and not train & val
    assert len(val) == round(14 * 0.25)


def test_greedy_rows_are_exact_argmax(built, tiny_teacher):
    _, result = built
    rows = pl.read_parquet(result.path / "data/t0_0/*.parquet").head(4)
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    for row in rows.iter_rows(named=True):
        ids = torch.tensor([row["prompt_token_ids"]])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False,
                             eos_token_id=model.generation_config.eos_token_id, pad_token_id=0)
        reference = out[0, ids.shape[1]:].tolist()
        assert row["response_token_ids"] == reference[: len(row["response_token_ids"])]


def test_rows_are_consistent(built, tiny_teacher):
    _, result = built
    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    rows = pl.read_parquet(result.path / "data/t*/*.parquet")
    for row in rows.head(10).iter_rows(named=True):
        assert row["num_tokens"] == len(row["response_token_ids"]) == len(row["topk_logprobs"])
        assert row["response"] == tok.decode(row["response_token_ids"], skip_special_tokens=True)
        assert row["finish_reason"] == ("stop" if row["response_token_ids"][-1] == tok.eos_token_id else "length")
        lp = row["topk_logprobs"][0]
        assert lp == sorted(lp, reverse=True) and all(x <= 0 for x in lp)
    # T > 0 samples of one prompt differ from each other (independent seeds)
    hot = rows.filter(pl.col("temperature") == 1.0).group_by("prompt_id").agg(pl.col("response").n_unique())
    assert (hot["response"] > 1).mean() > 0.8


def test_manifest_lineage(built, tiny_teacher):
    recipe, result = built
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["fingerprint"] == result.fingerprint
    # a local teacher is recorded by folder name + content hash: the manifest is published as is
    assert manifest["teacher"]["name"] == tiny_teacher.name and "path" not in manifest["teacher"]
    assert manifest["teacher"]["revision"].startswith("sha256:")
    assert manifest["license"] == "other"  # a local teacher and a local file: nothing says which license
    assert manifest["recipe"]["sampling"]["temperatures"] == [0.0, 0.7, 1.0]
    assert manifest["command"].startswith("python -m builders run")
    assert manifest["backend"]["name"] == "transformers"
    assert manifest["counts"]["per_temperature"]["1.0"]["rows"] == 28
    assert {"torch", "transformers"} <= set(manifest["versions"])
    assert set(manifest["files"]) == {str(p.relative_to(result.path)) for p in result.path.rglob("*.parquet")}
    assert not result.path.with_name(result.path.name + ".work").exists()


def test_manifest_and_card_hold_no_local_path(built, tiny_teacher, shared_data):
    _, result = built
    for name in ("manifest.json", "README.md"):
        text = (result.path / name).read_text()
        for local in (result.path.parent, tiny_teacher, tiny_teacher.resolve(), shared_data,
                      shared_data.resolve()):
            assert str(local) not in text, f"{name} records {local}"
    front = yaml.safe_load((result.path / "README.md").read_text().split("---\n")[1])
    assert front["license"] == "other" and front["language"] == ["en"]
    assert front["task_categories"] == ["text-generation"] and front["size_categories"] == ["n<1K"]


def test_rerun_reuses_the_build(built):
    recipe, result = built
    again = run_build(recipe, result.path.parent, "python -m builders run r.yaml")
    assert again.reused and again.path == result.path


def test_requests_are_deterministic(built):
    recipe, result = built
    a = plan(recipe, result.path.parent)
    b = plan(recipe, result.path.parent)
    assert [(r.request_id, r.seed) for r in a] == [(r.request_id, r.seed) for r in b]
    assert len({r.seed for r in a}) == len(a)
