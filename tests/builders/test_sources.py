"""Prompt sources: the shared data sets through the file source, other file formats, the offline generator."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from builders.recipe import FileSource, GeneratorSource, HubSource
from builders.sources import load_file_source, load_generator_source, load_hub_source
from core.errors import TempdraftError


def file_source(path, **kw) -> FileSource:
    return FileSource(kind="file", path=str(path), **kw)


@pytest.mark.parametrize(("rel", "kw", "first_words"), [
    ("gsm8k/train.jsonl", {"prompt_column": "question"}, "Natalia sold clips"),
    ("mt_bench/question.jsonl", {"prompt_column": "turns"}, "Compose an engaging travel blog"),
    ("alpaca_eval/alpaca_eval_text_davinci_003.json", {"prompt_column": "instruction"}, "What are the names"),
    ("databricks_dolly_15k/databricks-dolly-15k.reassembled.jsonl", {"template": "{instruction}\n\n{context}"},
     "What are some common mushrooms"),
    ("koala_test_set/koala_test_set.jsonl", {"prompt_column": "prompt"}, "Can you list the top 20 films"),
])
def test_shared_data_loads_through_file_source(shared_data, rel, kw, first_words):
    prompts = load_file_source(file_source(shared_data / rel, limit=5, **kw), Path("."))
    assert len(prompts) == 5
    assert prompts[0].prompt.startswith(first_words)
    assert prompts[0].messages[-1][0] == "user"
    assert len({p.prompt_id for p in prompts}) == 5


def test_parquet_csv_and_stable_ids(tmp_path, shared_data):
    records = [json.loads(x) for x in (shared_data / "gsm8k/test.jsonl").read_text().splitlines()[:6]]
    pl.DataFrame(records).write_parquet(tmp_path / "q.parquet")
    pl.DataFrame(records).write_csv(tmp_path / "q.csv")
    a = load_file_source(file_source(tmp_path / "q.parquet", prompt_column="question", name="gsm"), tmp_path)
    b = load_file_source(file_source(tmp_path / "q.csv", prompt_column="question", name="gsm"), tmp_path)
    assert [p.prompt_id for p in a] == [p.prompt_id for p in b]  # id = hash(source label, messages)
    c = load_file_source(file_source(tmp_path / "q.csv", prompt_column="question", name="other"), tmp_path)
    assert a[0].prompt_id != c[0].prompt_id


def test_duplicates_dropped_and_system_prompt(tmp_path):
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"q": q}) for q in ["a?", "b?", "a?", ""]))
    prompts = load_file_source(file_source(tmp_path / "d.jsonl", prompt_column="q", system_prompt="Be brief."), tmp_path)
    assert [p.prompt for p in prompts] == ["a?", "b?"]
    assert prompts[0].messages == (("system", "Be brief."), ("user", "a?"))


def test_generator_is_offline_and_deterministic():
    a = load_generator_source(GeneratorSource(kind="generator", generator="gsm_symbolic", size=4, seed=1))
    b = load_generator_source(GeneratorSource(kind="generator", generator="gsm_symbolic", size=4, seed=1))
    c = load_generator_source(GeneratorSource(kind="generator", generator="gsm_symbolic", size=4, seed=2))
    assert [p.prompt for p in a] == [p.prompt for p in b] != [p.prompt for p in c]
    assert len(a) == 4 and a[0].source == "gsm_symbolic"


def test_hub_source_uses_load_dataset_and_fails_clearly_offline():
    # HF_DATASETS_OFFLINE=1 (tests/conftest.py): the real `datasets` client refuses, we explain.
    with pytest.raises(TempdraftError, match="cannot load Hub dataset 'openai/gsm8k'"):
        load_hub_source(HubSource(kind="hub", dataset="openai/gsm8k", config="main", prompt_column="question"))


def test_hub_source_reads_a_dataset_folder(tmp_path, shared_data):
    # load_dataset accepts a folder of data files exactly like a Hub id; this exercises the real call.
    records = [json.loads(x) for x in (shared_data / "gsm8k/test.jsonl").read_text().splitlines()[:8]]
    (tmp_path / "ds").mkdir()
    pl.DataFrame(records).write_parquet(tmp_path / "ds" / "train.parquet")
    prompts = load_hub_source(HubSource(kind="hub", dataset=str(tmp_path / "ds"), split="train",
                                        prompt_column="question", limit=3))
    assert len(prompts) == 3 and prompts[0].prompt == records[0]["question"]


def test_file_label_names_the_file_not_a_split(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "train.jsonl").write_text(json.dumps({"q": "a?"}))
    prompts = load_file_source(file_source("gsm8k/train.jsonl", prompt_column="q"), tmp_path)
    assert prompts[0].source == "gsm8k/train.jsonl"
    named = load_file_source(file_source("gsm8k/train.jsonl", prompt_column="q", name="train"), tmp_path)
    assert named[0].source == "train"  # `name:` keeps an older label, and the prompt ids hashed from it


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path, monkeypatch):
    from builders.config import load_recipe

    recipes = tmp_path / "elsewhere" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "q.jsonl").write_text(json.dumps({"q": "a?"}))
    recipe = recipes / "r.yaml"
    recipe.write_text(
        "name: r\nteacher: {model: smollm2-135m-instruct}\nsampling: {temperatures: [0.0]}\n"
        "sources:\n  - {kind: file, path: q.jsonl, prompt_column: q}\n"
        "  - {kind: file, path: ../data/x.jsonl, prompt_column: q}\n"
    )
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    with pytest.raises(TempdraftError) as e:
        load_recipe(recipe)
    message = str(e.value)
    assert "sources.0" not in message  # q.jsonl was found beside the recipe
    assert f"sources.1.path: no such file: {recipes / '../data/x.jsonl'}" in message  # the path it tried
