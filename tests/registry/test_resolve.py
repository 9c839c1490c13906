"""resolve_dataset: local folder, name, name@latest, name@vN; unknown ids explain themselves."""

from __future__ import annotations

import datasets
import pytest

from builders.errors import TempdraftError
from registry.resolve import resolve_dataset
from registry.versions import register_build


def test_every_local_form(store, make):
    folder = make()
    assert resolve_dataset(str(folder)) == folder.resolve()  # a plain built folder, unregistered
    v1 = register_build(folder)
    v2 = register_build(make(recipe_extra={"seed": 1}))
    assert resolve_dataset("toy@v1") == v1.path
    assert resolve_dataset("toy@latest") == resolve_dataset("toy") == v2.path
    assert resolve_dataset(str(v1.path)) == v1.path


def test_load_dataset_on_a_resolved_version(store, make):
    register_build(make(rows=4))
    ds = datasets.load_dataset(str(resolve_dataset("toy@v1")), "t1_0", split="train")
    assert ds.num_rows == 4 and set(ds["temperature"]) == {1.0}


def test_unknown_ids(store, make, tmp_path):
    register_build(make())
    with pytest.raises(TempdraftError, match="Available versions: toy@v1"):
        resolve_dataset("toy@v3")
    with pytest.raises(TempdraftError, match="expected a folder with manifest.json"):
        resolve_dataset(str(tmp_path / "nowhere" / "x" / "y"))
    with pytest.raises(TempdraftError, match="Available datasets: toy"):
        resolve_dataset("missing_name")
