"""`python -m registry import FOLDER`: a version's folder from another store registered here, the source
left as it is; corrupt or foreign folders register nothing; kills at every step and two imports at once
leave exactly one version."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import TempdraftError
from registry.catalog import Catalog
from registry.cli import main
from registry.transfer import import_folder
from registry.versions import find_version, register_build

ROOT = Path(__file__).resolve().parents[2]
SHARD = "data/t0_7/train-00000-of-00001.parquet"


def built_elsewhere(make, tmp_path: Path, **kwargs) -> Path:
    """A version registered in another store (another machine): the folder `registry path` prints there."""
    return register_build(make(**kwargs), root=tmp_path / "there").path


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_import_registers_a_verified_copy_under_its_name_and_number(store, make, tmp_path):
    source = built_elsewhere(make, tmp_path)
    before = hashes(source)
    there = Catalog(tmp_path / "there").versions()[0]
    v = import_folder(source)
    assert (v.ref, v.fingerprint, v.origin) == ("toy@v1", there.fingerprint, f"import:{source}")
    assert v.verified_at is not None and hashes(v.path) == before
    assert hashes(source) == before  # copied, not moved
    assert find_version("toy", there.fingerprint) == v  # what a builder looks up before sampling
    assert import_folder(source) == v and len(Catalog().versions()) == 1  # again: the same version
    assert not any((store / "staging").iterdir())


def test_the_folders_number_is_kept_when_free_and_the_next_one_taken_otherwise(store, make, tmp_path):
    source = built_elsewhere(make, tmp_path)
    carried = shutil.copytree(source, tmp_path / "carried" / "v3")
    (carried / "notes.txt").write_text("stray")  # not part of a version: left behind
    v = import_folder(carried)
    assert v.ref == "toy@v3" and not (v.path / "notes.txt").exists()
    register_build(make(recipe_extra={"seed": 5}), root=tmp_path / "other")
    elsewhere = Catalog(tmp_path / "other").versions()[0].path  # another recipe, also named v1
    assert import_folder(elsewhere).ref == "toy@v1"  # free here
    register_build(make(recipe_extra={"seed": 6}))  # toy@v4: the next free number
    assert import_folder(built_elsewhere(make, tmp_path / "x", recipe_extra={"seed": 7})).ref == "toy@v5"


def test_the_same_recipe_sampled_again_here_is_refused_not_silently_kept(store, make, tmp_path):
    """Same name and fingerprint, other shards (a fresh machine re-sampled the recipe): the import says
    so instead of returning the local version as if it were the carried one."""
    source = built_elsewhere(make, tmp_path)
    local = register_build(make(rows=4))  # the same recipe (fingerprint), other rows
    assert local.fingerprint == Catalog(tmp_path / "there").versions()[0].fingerprint
    with pytest.raises(TempdraftError, match="same recipe.*other shards"):
        import_folder(source)
    assert Catalog().versions() == [local]


def test_corrupt_or_foreign_folders_register_nothing_and_exit_2(store, make, tmp_path, capsys):
    source = built_elsewhere(make, tmp_path)
    (source / SHARD).write_bytes(b"not parquet")
    assert main(["import", str(source)]) == 2
    assert f"{SHARD}: corrupted" in capsys.readouterr().err
    assert Catalog().versions() == [] and not any((store / "staging").iterdir())
    assert (source / SHARD).read_bytes() == b"not parquet"  # the source is not touched
    with pytest.raises(TempdraftError, match="not a tempdraft dataset folder"):
        import_folder(tmp_path)
    unreadable = built_elsewhere(make, tmp_path / "y", recipe_extra={"seed": 8})
    (unreadable / "data" / "gone.parquet").symlink_to(tmp_path / "nowhere")  # a copy that cannot finish
    assert main(["import", str(unreadable)]) == 2
    assert "nothing was registered" in capsys.readouterr().err and Catalog().versions() == []


def _import(source: Path, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TEMPDRAFT_FAULT"}
    env |= {"TEMPDRAFT_FAULT": fault} if fault else {}
    cmd = [sys.executable, "-m", "registry", "import", str(source)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("point", ["imported-copy", "register"])
def test_a_kill_at_each_step_then_a_rerun_gives_one_version(store, make, tmp_path, point):
    source = built_elsewhere(make, tmp_path)
    killed = _import(source, point)
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    assert Catalog().versions() == []  # nothing registered half-way
    rerun = _import(source)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    (v,) = Catalog().versions()
    assert out.strip() == f"{source} -> toy@v1 at {v.path}"
    assert sorted(p.name for p in (store / "datasets").glob("*/*")) == ["v1"]
    assert hashes(v.path) == hashes(source)
    assert not any((store / "staging").glob("*import-*"))  # the killed copy and its lock: swept


def test_two_imports_at_once_register_one_version(store, make, tmp_path):
    source = built_elsewhere(make, tmp_path)
    procs = [_import(source) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (v,) = Catalog().versions()
    assert all(out.strip().endswith(f"-> toy@v1 at {v.path}") for out, _ in outs)
    assert not any((store / "staging").glob("import-*"))
