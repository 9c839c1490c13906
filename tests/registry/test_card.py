"""The generated card: configs per temperature, `all`, `mixture` as default; load_dataset reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import polars as pl
import yaml

from registry.card import write_card
from registry.dataset import Manifest
from registry.resolve import load_version
from registry.versions import register_build
from tests.registry.dataset_factory import make_dataset_folder


def _front_matter(text: str) -> dict:
    _, front, _ = text.split("---\n", 2)
    return yaml.safe_load(front)


def test_card_configs_and_lineage(tmp_path):
    folder = make_dataset_folder(tmp_path)
    text = (folder / "README.md").read_text()
    configs = {c["config_name"]: c for c in _front_matter(text)["configs"]}
    assert list(configs) == ["mixture", "all", "t0_0", "t0_7", "t1_0"]
    assert configs["mixture"]["default"] is True
    assert {"split": "train", "path": "data/t*/train-*.parquet"} in configs["all"]["data_files"]
    assert [f["split"] for f in configs["t0_7"]["data_files"]] == ["train", "validation"]
    manifest = json.loads((folder / "manifest.json").read_text())
    for needle in (manifest["fingerprint"], "abc123", manifest["command"], *manifest["files"].values()):
        assert needle in text
    assert "| temperature | split | rows | tokens |" in text


def test_all_is_default_without_mixture(tmp_path):
    folder = make_dataset_folder(tmp_path, mixture=False)
    configs = _front_matter((folder / "README.md").read_text())["configs"]
    assert configs[0] == {**configs[0], "config_name": "all", "default": True}


def test_load_dataset_reads_each_config(tmp_path):
    folder = make_dataset_folder(tmp_path, rows=4)
    t07 = datasets.load_dataset(str(folder), "t0_7")
    assert t07["train"].num_rows == 4 and set(t07["train"]["temperature"]) == {0.7}
    assert datasets.load_dataset(str(folder), "all", split="train").num_rows == 12
    assert datasets.load_dataset(str(folder), split="validation").num_rows > 0  # mixture by default


def _own_ids(folder: Path) -> list[str]:
    return sorted(pl.read_parquet(folder / "data/mixture/train-*.parquet")["request_id"])


def test_same_name_and_version_never_share_a_datasets_cache(tmp_path):
    """Every store's first version of `toy` lives in a folder named `v1`, and datasets caches a local
    folder by its name and card metadata: each must still read its own rows, in this process and in
    another, also when a version is deleted and re-created at the same path with other rows."""
    cache = str(tmp_path / "hf_cache")  # one datasets cache for every load, as a user's ~/.cache is

    def register(store: Path, rows: int) -> Path:
        v = register_build(make_dataset_folder(tmp_path / "builds" / f"{store.name}{rows}", rows=rows), store)
        assert v.ref == "toy@v1"
        return v.path

    first = register(tmp_path / "a", rows=3)
    assert sorted(load_version(str(first), split="train", cache_dir=cache)["request_id"]) == _own_ids(first)

    other = register(tmp_path / "b", rows=4)
    assert sorted(datasets.load_dataset(str(other), split="train", cache_dir=cache)["request_id"]) == (
        _own_ids(other)
    )

    shutil.rmtree(tmp_path / "a")
    again = register(tmp_path / "a", rows=5)
    assert again == first
    code = (
        "import sys, datasets; "
        "print(','.join(sorted(datasets.load_dataset(sys.argv[1], split='train', cache_dir=sys.argv[2])"
        "['request_id'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(again), cache],
        env={**os.environ, "HF_DATASETS_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().split(",") == _own_ids(again)


def test_card_never_carries_a_token(tmp_path):
    folder = make_dataset_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["command"] = "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz123456 python -m builders run x.yaml"
    write_card(folder, Manifest.model_validate(manifest))
    assert "hf_abcdefghijklmnopqrstuvwxyz" not in (folder / "README.md").read_text()


def test_card_metadata_for_the_hub(tmp_path):
    folder = make_dataset_folder(tmp_path)
    front = _front_matter((folder / "README.md").read_text())
    assert front["license"] == "other"  # tiny-teacher and no known sources
    assert front["language"] == ["en"] and front["task_categories"] == ["text-generation"]
    assert front["size_categories"] == ["n<1K"] and front["pretty_name"] == "toy"


def test_license_is_derived_or_declared(tmp_path):
    offline = {
        "teacher": {"model": "smollm2-135m-instruct"},
        "sources": [{"kind": "generator", "generator": "gsm_symbolic", "size": 4}],
    }
    folder = make_dataset_folder(tmp_path / "a", recipe_extra=offline)
    assert _front_matter((folder / "README.md").read_text())["license"] == "apache-2.0"
    declared = make_dataset_folder(tmp_path / "b", recipe_extra={**offline, "license": "cc-by-4.0"})
    text = (declared / "README.md").read_text()
    assert _front_matter(text)["license"] == "cc-by-4.0"
    assert "| prompts reasoning-gym/gsm_symbolic | apache-2.0 |" in text


def test_card_never_carries_a_local_path(tmp_path):
    folder = make_dataset_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())  # older: paths inside
    manifest["teacher"] = {
        "name": str(tmp_path / "models/tiny"),
        "path": str(tmp_path / "models/tiny"),
        "revision": "sha256:ab",
        "source": "local",
    }
    manifest["tokenizer"]["name_or_path"] = str(tmp_path / "models/tiny")
    manifest["command"] = f"python -m builders run {tmp_path}/r.yaml --set output.dir={tmp_path}/out"
    manifest["recipe"]["sources"] = [{"kind": "file", "path": str(tmp_path / "gsm8k/train.jsonl")}]
    write_card(folder, Manifest.model_validate(manifest))
    text = (folder / "README.md").read_text()
    assert str(tmp_path) not in text
    assert "python -m builders run r.yaml --set output.dir=out" in text and "| teacher | tiny |" in text
