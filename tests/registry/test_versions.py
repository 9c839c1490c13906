"""name@vN + fingerprint: register, dedupe, next version, lookups and their error messages."""

from __future__ import annotations

import json

import pytest

from core.errors import TempdraftError
from registry.versions import find_version, get_version, parse_ref, register_build


def test_register_moves_folder_into_store(store, make):
    folder = make()
    fingerprint = json.loads((folder / "manifest.json").read_text())["fingerprint"]
    v = register_build(folder)
    assert (v.ref, v.fingerprint, v.origin) == ("toy@v1", fingerprint, "local")
    assert v.path == store / "datasets" / "toy" / "v1"
    assert (v.path / "manifest.json").is_file() and (v.path / "README.md").is_file()
    assert not folder.exists()
    assert find_version("toy", fingerprint) == v
    assert find_version("toy", "0" * 16) is None


def test_identical_build_returns_existing_version_and_drops_the_copy(store, make):
    first = register_build(make())
    again = make()
    assert register_build(again) == first
    assert not again.exists()
    assert [p.name for p in (store / "datasets" / "toy").iterdir()] == ["v1"]


def test_changed_recipe_gets_next_version(store, make):
    v1 = register_build(make())
    v2 = register_build(make(recipe_extra={"seed": 7}))
    other = register_build(make(name="other"))
    assert (v1.version, v2.version, other.ref) == (1, 2, "other@v1")
    assert v1.fingerprint != v2.fingerprint
    assert get_version("toy").ref == get_version("toy@latest").ref == "toy@v2"
    assert get_version("toy@v1") == v1


def test_unknown_names_and_versions_list_what_exists(store, make):
    register_build(make())
    register_build(make(recipe_extra={"seed": 7}))
    with pytest.raises(TempdraftError, match=r"unknown version toy@v9\. Available versions: toy@v1, toy@v2"):
        get_version("toy@v9")
    with pytest.raises(TempdraftError, match=r"unknown dataset 'nope'.*Available datasets: toy"):
        get_version("nope")


def test_bad_references_and_manifests(store, make, tmp_path):
    assert parse_ref("toy@v12") == ("toy", 12) and parse_ref("toy@latest") == ("toy", None)
    for bad in ("toy@12", "toy@v", "a b", "@v1"):
        with pytest.raises(TempdraftError):
            parse_ref(bad)
    with pytest.raises(TempdraftError, match="no manifest.json"):
        register_build(tmp_path)
    folder = make()
    (folder / "data/t0_7/train-00000-of-00001.parquet").unlink()
    with pytest.raises(TempdraftError, match="t0_7/train-00000-of-00001.parquet"):
        register_build(folder)
    assert folder.exists()  # a refused folder is left where it was


def test_a_stored_version_cannot_be_registered_again(store, make):
    v = register_build(make())
    with pytest.raises(TempdraftError, match="already inside the registry store"):
        register_build(v.path)
    assert (v.path / "manifest.json").is_file()
