"""The generated card: configs per temperature, `all`, `mixture` as default; load_dataset reads it."""

from __future__ import annotations

import json

import datasets
import yaml

from registry.card import write_card
from registry.dataset import Manifest
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
