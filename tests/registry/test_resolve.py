"""resolve_dataset: local folder, name, name@latest, name@vN; unknown ids explain themselves."""

from __future__ import annotations

import socket

import datasets
import pytest

from core.errors import TempdraftError
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


def test_a_missing_local_path_says_so(store, tmp_path, monkeypatch):
    """A path-shaped id that is not a local dataset never ends deep in the Hub client."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(
        TempdraftError, match="no dataset 'out/toy': no such local dataset \\(no folder out/toy\\)"
    ):
        resolve_dataset("out/toy")  # out/ is a local folder: a path, not a Hub org
    (tmp_path / "out" / "toy").mkdir()
    with pytest.raises(
        TempdraftError, match="out/toy is a folder but not a built dataset: it has no manifest"
    ):
        resolve_dataset("out/toy")
    # No local folder `nowhere/`: tried as a Hub id too, and the message says both (no Hub reachable).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{s.getsockname()[1]}")
    with pytest.raises(
        TempdraftError, match="^no dataset 'nowhere/toy': no such local dataset; as a Hub dataset id: "
    ):
        resolve_dataset("nowhere/toy")
