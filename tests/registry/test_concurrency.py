"""Two separate processes registering at once leave a consistent catalog with distinct versions."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from registry.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]

# Each worker says it is ready, waits for the go-file, then registers its folders as fast as it can.
WORKER = """
import sys, time
from pathlib import Path
from registry.versions import register_build
go = Path(sys.argv[1])
Path(f"{go}.ready-{sys.argv[2]}").touch()
while not go.exists():
    time.sleep(0.005)
for folder in sys.argv[3:]:
    print(register_build(Path(folder)).ref, flush=True)
"""


def test_two_processes_register_at_once(store, make, tmp_path):
    distinct = [[make(recipe_extra={"worker": w, "i": i}) for i in range(4)] for w in range(2)]
    shared = [make(recipe_extra={"shared": True}) for _ in range(2)]  # same fingerprint, built twice
    go = tmp_path / "go"
    env = {**os.environ, "TEMPDRAFT_REGISTRY": str(store), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(w), *map(str, [shared[w], *distinct[w]])],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}.ready-{w}").exists() for w in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both have imported: from here they race
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]

    refs = [line for out, _ in outputs for line in out.split()]
    versions = Catalog(store).versions("toy")
    numbers = [v.version for v in versions]
    assert sorted(numbers) == list(range(1, 10))  # 8 distinct + 1 shared, no gaps, no duplicates
    assert refs[0] == refs[5]  # both workers got the same version for the shared build
    assert len(set(refs)) == 9
    for v in versions:  # every row points at its own folder, holding its own manifest
        assert json.loads((v.path / "manifest.json").read_text())["fingerprint"] == v.fingerprint
    assert sorted(p.name for p in (store / "datasets" / "toy").iterdir()) == sorted(f"v{n}" for n in numbers)
    assert not any((store / "staging").glob("*"))  # folders move straight in: staging is not even needed
    with sqlite3.connect(store / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
