"""Every consumer refuses a damaged version (issue 14, class 3): with one shard's bytes flipped
(size and mtime kept) or cut in half, `registry path`, `distill validate`, `evaluate validate`, a
`pool:` recipe (dry run and run) and the load helper all fail with exit 2 (or an IntegrityError)
naming the shard, and write nothing.

    .venv/bin/python -m pytest tests/registry/test_consumers.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import builders.cli
import distill.__main__
import evaluate.cli
import registry.cli
from registry.catalog import Catalog
from registry.integrity import IntegrityError
from registry.resolve import load_version
from registry.versions import register_build
from tests.registry.test_integrity import SHARD, flip, truncate

MIX = {
    "name": "toy_mix",
    "seed": 3,
    "pool": "toy@v1",
    "mixture": {
        "total_rows": 4,
        "dedup": False,  # the factory gives every temperature the same responses
        "components": [{"temperatures": [0.7], "rows": 2}, {"temperatures": [1.0], "rows": 2}],
    },
}


def _write(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(params=[flip, truncate], ids=["flipped", "truncated"])
def damaged(request, store, make) -> Path:
    """toy@v1, served once (so its clean hash is on record), then one shard damaged."""
    v = register_build(make())
    assert load_version("toy@v1", "t0_7", split="train").num_rows == 3  # datasets' cache now holds it
    request.param(v.path / SHARD)
    return v.path / SHARD


def _refused(capsys, rc: int, shard: Path) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"{shard}: corrupted" in err and "Traceback" not in err, err
    return err


def test_registry_path(damaged, capsys):
    _refused(capsys, registry.cli.main(["path", "toy@v1"]), damaged)
    _refused(capsys, registry.cli.main(["path", str(damaged.parents[2])]), damaged)  # the folder as a path id


def test_distill_validate(damaged, capsys, tmp_path):
    config = {
        "dataset": {"id": "toy@v1", "config": "t0_7", "split": "train"},
        "teacher": {"model": str(tmp_path / "no-teacher")},
        "draft": {"init": "first_n_layers", "num_layers": 1},
        "loss": {"mode": "seqkd"},
        "optim": {"lr": 1e-3, "batch_size": 2, "max_steps": 1},
        "run": {"output_dir": str(tmp_path / "draft")},
    }
    err = _refused(capsys, distill.__main__.main(["validate", _write(tmp_path / "d.yaml", config)]), damaged)
    assert "dataset.id: dataset toy@v1 failed its integrity check" in err
    assert not (tmp_path / "draft").exists()


def test_evaluate_validate(damaged, capsys, tmp_path):
    config = {"target": "t", "drafts": ["d"], "prompts": "toy@v1", "output_dir": str(tmp_path / "eval")}
    err = _refused(capsys, evaluate.cli.main(["validate", _write(tmp_path / "e.yaml", config)]), damaged)
    assert "prompts: dataset toy@v1 failed its integrity check" in err
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_pool_recipe(damaged, capsys, tmp_path, store, dry_run):
    recipe = _write(tmp_path / "mix.yaml", MIX)
    _refused(capsys, builders.cli.main(["run", recipe, *(["--dry-run"] if dry_run else [])]), damaged)
    assert Catalog(store).versions("toy_mix") == []


def test_load_helper(damaged):
    """datasets' own cache still holds the rows; the helper checks the shards before reading it."""
    with pytest.raises(IntegrityError, match=f"{SHARD}: corrupted"):
        load_version("toy@v1", "t0_7", split="train")


def test_a_clean_pool_recipe_still_composes(store, make, tmp_path, capsys):
    """The same recipe on the undamaged version works (so the refusals above are the check's)."""
    register_build(make())
    assert builders.cli.main(["run", _write(tmp_path / "mix.yaml", MIX)]) == 0, capsys.readouterr().err
    assert [v.ref for v in Catalog(store).versions("toy_mix")] == ["toy_mix@v1"]


def test_a_shard_damaged_after_the_check_is_named(store, make):
    """Between resolve and read (a race): distill's reader names the file instead of ArrowInvalid."""
    from distill.data import parquet_columns, read_columns

    v = register_build(make())
    truncate(v.path / SHARD)
    with pytest.raises(IntegrityError, match=f"{v.path / SHARD}: unreadable Parquet shard"):
        read_columns([v.path / SHARD], ["temperature"])
    with pytest.raises(IntegrityError, match=f"{v.path / SHARD}: unreadable Parquet shard"):
        parquet_columns([v.path / SHARD])
