"""`python -m registry list | show | diff | verify | path`: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from registry.cli import main
from registry.versions import register_build

ROOT = Path(__file__).resolve().parents[2]


def test_list_show_diff(store, make, capsys):
    register_build(make())
    register_build(make(temperatures=(0.0, 0.5), recipe_extra={"seed": 9}))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy@v1" in out and "toy@v2" in out and "0.0, 0.5" in out

    assert main(["show", "toy@v1"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "fingerprint",
        "python -m builders run recipes/toy.yaml",
        "tiny-teacher @ abc123",
        "mixture (default), all, t0_0, t0_7, t1_0",
        "Statistics per temperature",
        "| temperature |",
    ):
        assert needle in out

    assert main(["diff", "toy@v1", "v2"]) == 0
    out = capsys.readouterr().out
    assert "--- toy@v1/recipe.yaml" in out and "+seed: 9" in out and "-  - 1.0" in out
    assert "rows_a" in out and "rows_b" in out


def test_verify_and_path(store, make, capsys):
    v = register_build(make())
    assert main(["verify"]) == 0 and "toy@v1: ok" in capsys.readouterr().out
    assert main(["path", "toy"]) == 0 and capsys.readouterr().out.strip() == str(v.path)
    (v.path / "data/t1_0/train-00000-of-00001.parquet").write_bytes(b"junk")
    assert main(["verify", "toy@v1"]) == 2
    assert "data/t1_0/train-00000-of-00001.parquet: corrupted" in capsys.readouterr().err


def test_unknown_version_exits_2_without_traceback(store, make):
    register_build(make())
    env = {**os.environ, "TEMPDRAFT_REGISTRY": str(store), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "registry", "show", "toy@v4"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown version toy@v4. Available versions: toy@v1"


def test_diff_cells_never_wrap_and_json_is_available(store, make, capsys):
    register_build(make())
    register_build(make(temperatures=(0.0, 0.5), recipe_extra={"seed": 9}))
    assert main(["diff", "toy@v1", "v2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    header = rows[0]
    assert "rows_a" in header and "Δrows" in header
    # one line per (temperature, split): 4 temperatures x 2 splits, none continued on a wrapped line
    body = [r for r in rows[2:]]
    assert len(body) == 8 and all(r.count("|") == header.count("|") for r in body)
    assert any("validation" in r for r in body)

    assert main(["diff", "toy@v1", "v2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"]["ref"] == "toy@v1" and data["b"]["ref"] == "toy@v2"
    assert "+seed: 9" in data["recipe_diff"] and "temperatures" in data["lineage"]
    assert {"temperature", "split", "rows_a", "rows_b", "Δrows"} <= set(data["stats"][0])
