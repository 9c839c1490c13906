"""`executor: ray` on a real local Ray cluster: a head and a worker started as separate processes
(`ray start --block`), the builder's CLI as the driver.

    .venv/bin/python -m pytest -m integration tests/builders/test_ray_executor.py

- a Ray build gives the local run's rows, fingerprint included, and registers in the catalog;
- a worker node killed mid-build: Ray restarts its actor on a replacement node, the job finishes,
  no row lost or duplicated;
- the driver killed mid-build: a rerun (here with the local executor) resumes from the same shards.

Every Ray process is ended by id in teardown. On this 2-core machine each test takes 1-3 minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest
import yaml

from tests.builders.conftest import ROOT, run_builder, tiny_recipe

pytest.importorskip("ray")
pytestmark = pytest.mark.integration

RAY = str(Path(sys.executable).with_name("ray"))
SHARD_SIZE = 6  # 70 requests -> 12 shards: enough for two actors to share and for a kill to land mid-build
COLS = ["request_id", "prompt_id", "temperature", "seed", "response_token_ids", "response", "finish_reason"]


def _gone() -> contextlib.suppress:
    """Ignore a process that has already exited."""
    return contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError, subprocess.TimeoutExpired)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRayCluster:
    """Ray nodes as `ray start --block` processes on this machine; each node is ended by process id."""

    def __init__(self, root: Path):
        # Short path: Ray's unix sockets live under it (108-byte limit); token auth as on a real cluster.
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        self.logs = root
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                    "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []
        self.start_node(head=True)

    def start_node(self, head: bool = False) -> subprocess.Popen:
        args = [RAY, "start", "--block", "--num-cpus=1", "--object-store-memory=80000000",
                "--node-ip-address=127.0.0.1", f"--dashboard-agent-listen-port={_free_port()}"]
        if head:
            args += [f"--port={self.port}", f"--temp-dir={self.temp}", "--head", "--include-dashboard=false",
                     f"--ray-client-server-port={_free_port()}", f"--dashboard-port={_free_port()}"]
        else:
            args += [f"--address={self.address}"]
        log = self.logs / f"ray-node-{len(self.nodes)}.log"
        with log.open("w") as f:
            node = subprocess.Popen(args, env=self.env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=True)
        self.nodes.append(node)
        deadline = time.time() + 240
        while "block forever" not in log.read_text():  # printed once the node has joined
            if node.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"ray node did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        return node

    def processes(self, node: subprocess.Popen) -> list[psutil.Process]:
        try:
            root = psutil.Process(node.pid)
            return [root, *root.children(recursive=True)]  # raylet, GCS, and the node's workers/actors
        except psutil.NoSuchProcess:
            return []

    def kill_node(self, node: subprocess.Popen) -> None:
        """A machine lost: every process of the node at once, no clean shutdown."""
        for p in self.processes(node):
            with _gone():
                p.kill()
        node.wait(30)

    def stop(self) -> None:
        for node in reversed(self.nodes):  # workers first, the head last
            procs = self.processes(node)
            with _gone():
                node.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
            _, alive = psutil.wait_procs(procs, timeout=20)
            for p in alive:
                with _gone():
                    p.kill()
            with _gone():
                node.wait(10)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture
def ray_cluster(tmp_path):
    """A head and one worker, one logical CPU each, as separate processes."""
    cluster = LocalRayCluster(tmp_path)
    try:
        cluster.start_node()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory, tiny_teacher, shared_data) -> tuple[pl.DataFrame, str]:
    """The reference: the same recipe built by the local executor (rows, fingerprint)."""
    folder = tmp_path_factory.mktemp("local_ref")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(
        tiny_teacher, shared_data, folder / "out",
        output={"dir": str(folder / "out"), "shard_size": SHARD_SIZE, "validation_fraction": 0.25})))
    env = {**os.environ, "TEMPDRAFT_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"}
    done = run_builder(recipe, env)
    assert done.returncode == 0, done.stderr[-3000:]
    return _rows(folder / "out"), _fingerprint(folder / "out")


def _rows(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "data/t*/*.parquet").select(COLS).sort("request_id")


def _fingerprint(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text())["fingerprint"])


def _ray_recipe(write_recipe, cluster: LocalRayCluster, out: Path | None, name: str = "ray.yaml") -> Path:
    output: dict[str, Any] = {"shard_size": SHARD_SIZE, "validation_fraction": 0.25}
    if out is not None:
        output["dir"] = str(out)
    executor = {"kind": "ray", "address": cluster.address, "num_actors": 2, "cpus_per_actor": 1}
    return write_recipe(name, output=output, executor=executor)


def _driver_env(cluster: LocalRayCluster) -> dict[str, str]:
    # Hold the first shard until both actors have loaded the model, so both nodes get shards (by default
    # Ray Data starts on the first ready actor, and on a loaded 2-core machine it may finish them all).
    return {**cluster.env, "RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S": "300"}


def _build(recipe: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_builder(recipe, env, timeout=900)


def _shards(work: Path) -> int:
    return len(list((work / "shards").glob("shard-*.parquet")))


def test_cluster_build_matches_local_run(ray_cluster, write_recipe, local_rows):
    from registry.versions import find_version

    recipe = _ray_recipe(write_recipe, ray_cluster, out=None)  # default output: registered in the catalog
    done = _build(recipe, _driver_env(ray_cluster))
    assert done.returncode == 0, done.stderr[-5000:]
    assert "on 2 node(s), 2 actor(s)" in done.stderr, done.stderr[-3000:]
    reference, reference_fp = local_rows
    version = find_version("tiny", reference_fp)  # same fingerprint as the local run: executor is not in it
    assert version is not None, done.stdout[-2000:]
    rows = _rows(version.path)
    assert rows.height == 14 * (1 + 2 * 2) and rows["request_id"].is_unique().all()
    assert rows.equals(reference)
    manifest = json.loads((version.path / "manifest.json").read_text())
    assert manifest["recipe"]["executor"]["kind"] == "ray"
    assert manifest["backend"]["ray"]["nodes_this_run"] == 2


def test_worker_node_killed_mid_build_job_finishes(ray_cluster, write_recipe, local_rows, tmp_path):
    out = tmp_path / "killed"
    recipe = _ray_recipe(write_recipe, ray_cluster, out)
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen([sys.executable, "-m", "builders", "run", str(recipe)], cwd=ROOT,
                              env=_driver_env(ray_cluster), stdout=log, stderr=subprocess.STDOUT)
    worker = ray_cluster.nodes[1]
    deadline = time.time() + 600
    while _shards(out.with_name("killed.work")) < 1:  # mid-build: both actors loaded and busy
        assert driver.poll() is None and time.time() < deadline, (tmp_path / "driver.log").read_text()[-3000:]
        time.sleep(0.05)
    assert any("ShardSampler" in " ".join(p.cmdline()) for p in ray_cluster.processes(worker)[1:]), \
        "the worker node should hold an actor when it dies"
    ray_cluster.kill_node(worker)
    done_at_kill = _shards(out.with_name("killed.work"))
    ray_cluster.start_node()  # the replacement an autoscaler would bring; the lost actor restarts there
    assert driver.wait(900) == 0, (tmp_path / "driver.log").read_text()[-5000:]
    assert done_at_kill < 12, "the kill should land mid-build"
    rows = _rows(out)
    assert rows["request_id"].is_unique().all()
    assert rows.equals(local_rows[0])


def test_driver_killed_mid_build_rerun_resumes(ray_cluster, write_recipe, local_rows, tmp_path):
    out = tmp_path / "resumed"
    work = out.with_name("resumed.work")
    recipe = _ray_recipe(write_recipe, ray_cluster, out)
    driver = subprocess.Popen([sys.executable, "-m", "builders", "run", str(recipe)], cwd=ROOT,
                              env=_driver_env(ray_cluster), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while _shards(work) < 3:
        assert driver.poll() is None and time.time() < deadline
        time.sleep(0.1)
    driver.kill()  # the job dies with the driver; finished shards are on disk, atomically
    driver.wait()
    done_before = _shards(work)
    assert 3 <= done_before < 12 and not out.exists()
    # The same recipe with the local executor: same fingerprint, so the same work folder to resume.
    local = yaml.safe_load(recipe.read_text())
    local["executor"] = "local"
    recipe.write_text(yaml.safe_dump(local))
    rerun = _build(recipe, {**os.environ, "OMP_NUM_THREADS": "1"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming: {done_before}/12 shards" in rerun.stderr
    rows = _rows(out)
    assert rows["request_id"].is_unique().all()
    assert rows.equals(local_rows[0])
