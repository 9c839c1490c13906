"""kill -9 a build at some point, run it again: exactly one row per request, equal to an
uninterrupted build's rows (same machine, same backend)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from tests.builders.conftest import ROOT, run_builder


def _run(recipe: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return run_builder(recipe, env, *extra)


def test_kill_and_resume_matches_uninterrupted(write_recipe, tmp_path):
    env = {**os.environ}
    recipe = write_recipe(output={"dir": str(tmp_path / "killed"), "shard_size": 6, "validation_fraction": 0.25})
    work = tmp_path / "killed.work" / "shards"
    proc = subprocess.Popen([sys.executable, "-m", "builders", "run", str(recipe)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(work.glob("shard-*.parquet"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-build: some shards done, one in flight
    proc.wait()
    done_before = len(list(work.glob("shard-*.parquet")))
    assert 3 <= done_before < 12, "the kill should land mid-build"
    assert not (tmp_path / "killed").exists(), "an interrupted build must not look complete"

    resumed = _run(recipe, env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr

    clean_recipe = write_recipe("clean.yaml", output={"dir": str(tmp_path / "clean"), "shard_size": 6,
                                                      "validation_fraction": 0.25})
    assert _run(clean_recipe, env).returncode == 0

    cols = ["request_id", "response_token_ids", "finish_reason", "seed"]
    killed = pl.read_parquet(tmp_path / "killed/data/t*/*.parquet").select(cols).sort("request_id")
    clean = pl.read_parquet(tmp_path / "clean/data/t*/*.parquet").select(cols).sort("request_id")
    assert killed["request_id"].is_unique().all()
    assert killed.height == clean.height == 14 * (1 + 2 * 2)
    assert killed.equals(clean)
