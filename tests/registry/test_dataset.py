"""The dataset contract (registry/dataset.py): one reader for the manifest and the folder layout;
a manifest written before a field existed still loads. Run: python -m pytest tests/registry/test_dataset.py
"""

from __future__ import annotations

import json

import pytest

from core.errors import TempdraftError
from registry.dataset import (
    Manifest,
    config_files,
    dataset_configs,
    read_manifest,
    shard_layout,
    split_files,
)
from registry.resolve import load_version
from registry.versions import register_build
from tests.registry.dataset_factory import make_dataset_folder


def test_an_older_manifest_loads_as_it_was_written(tmp_path, store):
    # Fields a builder writes today are missing, one it never wrote is present: still a dataset.
    folder = make_dataset_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("tokenizer", "backend", "versions", "stats", "created_at"):
        manifest.pop(key)
    manifest["written_by"] = "an older builder"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    read = read_manifest(folder)
    assert read.as_dict() == manifest and read.tokenizer is None and read.stats is None
    version = register_build(folder)
    assert load_version(version.ref, "t0_7")["train"].num_rows > 0


def test_a_manifest_the_registry_cannot_rely_on(tmp_path):
    folder = make_dataset_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": 7, "name": "a/b"}))
    with pytest.raises(TempdraftError) as e:
        read_manifest(folder)
    assert "fingerprint: missing or not a string" in str(e.value)
    assert "name: invalid dataset name" in str(e.value)
    with pytest.raises(TempdraftError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_one_reader_for_the_folder_layout(tmp_path):
    folder = make_dataset_folder(tmp_path)
    assert dataset_configs(folder) == ["mixture", "t0_0", "t0_7", "t1_0"]
    every_temperature = config_files(folder, "all", "train")
    assert [f.parent.name for f in every_temperature] == ["t0_0", "t0_7", "t1_0"]
    assert [f.parent.name for f in split_files(folder, "validation")] == dataset_configs(folder)
    layout = shard_layout(folder, read_manifest(folder))
    assert layout == shard_layout(folder) == {c: ["train", "validation"] for c in dataset_configs(folder)}
    assert Manifest.model_validate({"name": "x", "fingerprint": "f"}).files == {}
