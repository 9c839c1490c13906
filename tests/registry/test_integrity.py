"""Shards are checked against the manifest on every resolve (hashed unless the files are unchanged
since a clean hash); errors name the file; a failed check stops the version from being served.

    .venv/bin/python -m pytest tests/registry/test_integrity.py -q
"""

from __future__ import annotations

import os
import time

import pytest

from core.errors import TempdraftError
from registry.catalog import Catalog
from registry.cli import main
from registry.integrity import SETTLE_S, IntegrityError, check_folder
from registry.resolve import resolve_dataset
from registry.versions import register_build

SHARD = "data/t0_7/train-00000-of-00001.parquet"
OTHER = "data/t1_0/validation-00000-of-00001.parquet"


def flip(path, keep_mtime: bool = True):
    """Flip one byte in place (same size, same inode); put the old mtime back, as `cp -p` would."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_first_use_verifies_and_records(store, make):
    v = register_build(make())
    assert v.verified_at is None
    assert resolve_dataset("toy@v1") == v.path
    assert Catalog(store).get("toy", 1).verified_at is not None


def test_corrupted_shard_is_named_on_first_use(store, make):
    v = register_build(make())
    flip(v.path / SHARD)
    with pytest.raises(IntegrityError, match=rf"toy@v1 failed its integrity check:\n.*{SHARD}: corrupted"):
        resolve_dataset("toy@v1")
    assert Catalog(store).get("toy", 1).verified_at is None


@pytest.mark.parametrize("damage", [flip, truncate])
def test_every_resolve_sees_a_damaged_shard(store, make, damage):
    v = register_build(make())
    resolve_dataset("toy")  # verified once
    damage(v.path / SHARD)
    with pytest.raises(IntegrityError, match=f"{SHARD}: corrupted"):
        resolve_dataset("toy")
    assert Catalog(store).get("toy", 1).verified_at is None


def test_a_clean_hash_is_remembered_until_a_file_changes(store, make):
    v = register_build(make())
    time.sleep(SETTLE_S + 0.1)  # files changed just before a hash are hashed again next time
    assert check_folder(v.path, "toy@v1") is True  # hashed
    assert check_folder(v.path, "toy@v1") is False  # same size, mtime, ctime, inode: not hashed again
    assert resolve_dataset("toy@v1") == v.path
    assert check_folder(v.path, "toy@v1", force=True) is True
    flip(v.path / SHARD)  # mtime put back; the ctime still moves
    with pytest.raises(IntegrityError, match=f"{SHARD}: corrupted"):
        resolve_dataset("toy@v1")
    assert Catalog(store).verified_signature(v.path) is None


def test_failed_verify_stops_serving_the_version(store, make, capsys):
    """Issue 14 (3): after `verify` fails, `path` must not answer 0 with the old flag."""
    v = register_build(make())
    assert main(["path", "toy@v1"]) == 0
    flip(v.path / SHARD)
    truncate(v.path / OTHER)
    capsys.readouterr()
    assert main(["verify", "toy@v1"]) == 2
    err = capsys.readouterr().err
    assert f"{SHARD}: corrupted" in err and f"{OTHER}: corrupted" in err and "Traceback" not in err
    assert Catalog(store).get("toy", 1).verified_at is None
    assert main(["path", "toy@v1"]) == 2
    assert f"{SHARD}: corrupted" in capsys.readouterr().err


def test_verify_all_checks_every_version(store, make, capsys):
    v1 = register_build(make())
    register_build(make(recipe_extra={"seed": 2}))
    truncate(v1.path / SHARD)
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert f"toy@v1 failed its integrity check:\n  - {v1.path}/{SHARD}" in err and "toy@v2: ok" in err


@pytest.mark.parametrize("damage", [flip, truncate])
def test_a_path_id_with_a_manifest_is_checked_too(store, make, damage):
    folder = make()
    assert resolve_dataset(str(folder)) == folder.resolve()
    damage(folder / SHARD)
    with pytest.raises(
        IntegrityError, match=f"{folder.name} failed its integrity check:\n.*{SHARD}: corrupted"
    ):
        resolve_dataset(str(folder))


def test_missing_and_unlisted_shards(store, make):
    v = register_build(make())
    resolve_dataset("toy")
    (v.path / SHARD).unlink()
    with pytest.raises(TempdraftError, match=f"{SHARD}: missing"):
        resolve_dataset("toy")  # presence is checked on every use
    (v.path / SHARD).write_bytes(b"")
    (v.path / "data/t0_7/train-00001-of-00001.parquet").write_bytes(b"stray")
    with pytest.raises(TempdraftError, match="train-00001-of-00001.parquet: not listed in the manifest"):
        resolve_dataset("toy", verify=True)
