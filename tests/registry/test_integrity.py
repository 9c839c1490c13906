"""Shard sha256 checked on first use (recorded in the catalog) or on demand; errors name the file."""

from __future__ import annotations

import pytest

from builders.errors import TempdraftError
from registry.catalog import Catalog
from registry.resolve import resolve_dataset
from registry.versions import register_build

SHARD = "data/t0_7/train-00000-of-00001.parquet"


def _corrupt(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_first_use_verifies_and_records(store, make):
    v = register_build(make())
    assert v.verified_at is None
    assert resolve_dataset("toy@v1") == v.path
    assert Catalog(store).get("toy", 1).verified_at is not None


def test_corrupted_shard_is_named_on_first_use(store, make):
    v = register_build(make())
    _corrupt(v.path / SHARD)
    with pytest.raises(TempdraftError, match=rf"toy@v1 failed its integrity check:\n.*{SHARD}: corrupted"):
        resolve_dataset("toy@v1")
    assert Catalog(store).get("toy", 1).verified_at is None


def test_verify_flag_rehashes_a_verified_version(store, make):
    v = register_build(make())
    resolve_dataset("toy")  # verified once
    _corrupt(v.path / SHARD)
    assert resolve_dataset("toy") == v.path  # later uses only check presence
    with pytest.raises(TempdraftError, match=f"{SHARD}: corrupted"):
        resolve_dataset("toy", verify=True)


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
