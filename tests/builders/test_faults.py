"""Kill a default (registered) build with SIGKILL at every phase boundary, run it again, and get exactly
what an uninterrupted build gives: the same fingerprint and shard hashes, one catalog version, no leftovers.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/builders/test_faults.py -q

The kill comes from the build itself at a named point (`TEMPDRAFT_FAULT`, core/faults.py), so it lands
exactly on the boundary; everything else is the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from pathlib import Path

import pytest
import yaml

from registry.catalog import Catalog
from tests.builders.conftest import ROOT, run_builder, tiny_recipe

SHARDS = 2  # 6 prompts x (greedy + 2 samples at 2 temperatures) = 30 requests, 15 per shard
POINTS = [*(f"shard-{i}" for i in range(SHARDS)), "assemble", "renamed", "register", "registered"]


def _recipe(teacher: Path, shared_data: Path, folder: Path) -> Path:
    recipe = tiny_recipe(teacher, shared_data, folder / "unused")
    del recipe["output"]["dir"]  # the default: register in the catalog
    recipe["output"]["shard_size"] = 15
    recipe["sampling"]["max_new_tokens"] = 8
    for source, limit in zip(recipe["sources"], (4, 2), strict=True):
        source["limit"] = limit
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _build(recipe: Path, home: Path, registry: Path | None = None, fault: str | None = None):
    env = {**os.environ, "TEMPDRAFT_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("TEMPDRAFT_FAULT", None)
    if registry is not None:
        env["TEMPDRAFT_REGISTRY"] = str(registry)
    if fault is not None:
        env["TEMPDRAFT_FAULT"] = fault
    return run_builder(recipe, env, timeout=300)


def _outcome(home: Path, registry: Path) -> dict:
    """What a build left behind: catalog rows, each version's fingerprint and shard hashes, and every
    other file or folder under the home's builds/ and the registry's staging/."""
    versions = Catalog(registry).versions()
    manifests = [json.loads((v.path / "manifest.json").read_text()) for v in versions]
    builds = home / "builds"
    return {
        "versions": [(v.ref, v.fingerprint) for v in versions],
        "files": [m["files"] for m in manifests],
        "stored": sorted(p.name for p in (registry / "datasets").glob("*/*")),
        "left_in_builds": sorted(p.name for p in builds.iterdir() if not p.name.endswith(".lock")),
        "left_in_staging": sorted(p.name for p in (registry / "staging").glob("*")),
    }


@pytest.fixture(scope="module")
def reference(tiny_teacher, shared_data, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("reference")
    recipe = _recipe(tiny_teacher, shared_data, folder)
    done = _build(recipe, folder / "home")
    assert done.returncode == 0, done.stderr
    outcome = _outcome(folder / "home", folder / "home" / "registry")
    assert outcome["versions"][0][0] == "tiny@v1" and len(outcome["versions"]) == 1
    assert outcome["left_in_builds"] == [] and outcome["left_in_staging"] == []
    return recipe, outcome


@pytest.fixture
def other_filesystem_registry():
    """A registry on another filesystem than the home (/dev/shm), where registering copies the folder."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == Path(ROOT).stat().st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    root = shm / f"tempdraft-test-{uuid.uuid4().hex[:8]}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_point_then_rerun_gives_the_uninterrupted_build(point, reference, tmp_path):
    recipe, expected = reference
    home = tmp_path / "home"
    killed = _build(recipe, home, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    rerun = _build(recipe, home)
    assert rerun.returncode == 0, rerun.stderr
    assert _outcome(home, home / "registry") == expected
    if point.startswith("shard-") and point != f"shard-{SHARDS - 1}":
        assert "resuming" in rerun.stderr
    if point in ("renamed",):
        assert "assembled by a run that stopped before" in rerun.stderr
    if point == "assemble":
        assert "an assembly a killed run left" in rerun.stderr
    if point == "registered":
        assert "already built: tiny@v1" in rerun.stderr


@pytest.mark.parametrize("point", ["staged", "register"])
def test_kill_while_registering_to_another_filesystem(point, reference, tmp_path, other_filesystem_registry):
    """Registering into a store on another filesystem copies into its staging/ first: the copy a kill
    leaves there is removed by the next registration, and the build folder it came from is registered."""
    recipe, expected = reference
    home, registry = tmp_path / "home", other_filesystem_registry
    killed = _build(recipe, home, registry, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if point == "staged":
        assert any((registry / "staging").glob("copy-*")), "the kill should leave a copy in staging"

    rerun = _build(recipe, home, registry)
    assert rerun.returncode == 0, rerun.stderr
    assert _outcome(home, registry) == expected


def test_name_the_registry_refuses_fails_before_sampling(tiny_teacher, shared_data, tmp_path):
    recipe = _recipe(tiny_teacher, shared_data, tmp_path)
    data = yaml.safe_load(recipe.read_text())
    data["name"] = "x" * 120
    recipe.write_text(yaml.safe_dump(data))
    home = tmp_path / "home"
    done = _build(recipe, home)
    assert done.returncode == 2 and "dataset name" in done.stderr and "Traceback" not in done.stderr
    assert not (home / "builds").exists()
