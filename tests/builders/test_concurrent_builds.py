"""Four builds in one home at the same time, two of them identical: all succeed, the identical pair
yields one version (one samples, the other waits on the build lock and finds it), nothing is left over.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/builders/test_concurrent_builds.py -q
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from registry.catalog import Catalog
from tests.builders.conftest import tiny_recipe

ROOT = Path(__file__).resolve().parents[2]

# Heavy imports first, then a start line, so that the builds themselves begin together.
WORKER = """
import sys, time
from pathlib import Path
import torch, transformers, builders.backends.hf, builders.build
from builders.cli import main
go, ready, recipe = sys.argv[1:]
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
sys.exit(main(["run", recipe]))
"""


def _write(tmp_path: Path, teacher: Path, shared_data: Path, file: str, **overrides) -> Path:
    recipe = tiny_recipe(teacher, shared_data, tmp_path / "unused", **overrides)
    del recipe["output"]["dir"]  # the default: register in the catalog
    recipe["output"]["shard_size"] = 10
    recipe["sampling"]["max_new_tokens"] = 8
    path = tmp_path / file
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_two_identical_and_two_different_builds_at_once(tiny_teacher, shared_data, tmp_path):
    same = _write(tmp_path, tiny_teacher, shared_data, "same.yaml")
    recipes = [
        same,
        same,
        _write(tmp_path, tiny_teacher, shared_data, "seed.yaml", seed=4),
        _write(tmp_path, tiny_teacher, shared_data, "other.yaml", name="tiny_other"),
    ]
    home, go = tmp_path / "home", tmp_path / "go"
    env = {**os.environ, "TEMPDRAFT_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("TEMPDRAFT_FAULT", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(tmp_path / f"ready-{i}"), str(r)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, r in enumerate(recipes)
    ]
    deadline = time.monotonic() + 300
    while not all((tmp_path / f"ready-{i}").exists() for i in range(4)) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, logs

    refs = [re.findall(r"(?:wrote \d+ rows -> |already built: )(\S+@v\d+)", log) for log in logs]
    assert refs[0] == refs[1] and len(refs[0]) == 1  # the identical pair: one version
    sampled = ["wrote" in log for log in logs[:2]]
    assert sorted(sampled) == [False, True], logs[:2]  # one built it, the other found it built
    waiter = logs[sampled.index(False)]
    assert "waiting for it to finish" in waiter and "already built" in waiter
    catalog = Catalog(home / "registry")
    assert sorted(v.ref for v in catalog.versions()) == ["tiny@v1", "tiny@v2", "tiny_other@v1"]
    assert len({v.fingerprint for v in catalog.versions()}) == 3
    assert sorted(p.name for p in (home / "builds").iterdir() if not p.name.endswith(".lock")) == []
    assert not any((home / "registry" / "staging").glob("*"))
