"""A dataset sampled on one machine, carried as a folder and `registry import`ed on another: the builder
there finds it built (same recipe, same fingerprint) and samples nothing — how the study reuses an eval
set across GPU sessions (docs/study.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from registry.catalog import Catalog
from tests.builders.conftest import ROOT, run_builder
from tests.builders.test_faults import _recipe


def test_an_imported_build_is_found_built_and_not_sampled_again(tiny_teacher, shared_data, tmp_path):
    recipe = _recipe(tiny_teacher, shared_data, tmp_path)
    env = {**os.environ, "TEMPDRAFT_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    env.pop("TEMPDRAFT_FAULT", None)
    there, here = tmp_path / "there", tmp_path / "here"
    built = run_builder(recipe, {**env, "TEMPDRAFT_REGISTRY": str(there)}, timeout=300)
    assert built.returncode == 0, built.stderr
    (v_there,) = Catalog(there).versions()

    carried = shutil.copytree(v_there.path, tmp_path / "carried" / "v1")  # what a device call brings back
    cmd = [sys.executable, "-m", "registry", "--root", str(here), "import", str(carried)]
    imported = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr

    again = run_builder(recipe, {**env, "TEMPDRAFT_REGISTRY": str(here)}, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"[build] already built: {v_there.ref}" in again.stderr
    assert "tok/s" in built.stderr and "tok/s" not in again.stderr  # sampled there, nothing here
    ((ref, fingerprint),) = [(v.ref, v.fingerprint) for v in Catalog(here).versions()]
    assert (ref, fingerprint) == (v_there.ref, v_there.fingerprint)
