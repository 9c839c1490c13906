"""Network faults during push / pull (issue 14, class 6): the REAL huggingface_hub client against
`HubStandIn` (tests/registry/hub_server.py) dropping the connection at each phase, and against a
closed port (no route). Each gives one `error:` line naming the step and the command to rerun,
exit 1, no traceback; the Hub publishes nothing half-done, and the rerun succeeds.

    .venv/bin/python -m pytest tests/registry/test_network_faults.py -q
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import TempdraftError
from registry.catalog import Catalog
from registry.cli import main
from registry.resolve import resolve_dataset
from registry.versions import register_build

pytestmark = pytest.mark.integration  # starts a local HTTP server

ROOT = Path(__file__).resolve().parents[2]
PUSH = "rerun `python -m registry push toy@v1 org/toy`"


def _one_error_line(capsys) -> str:
    """The only stderr line besides huggingface_hub's download progress bar."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "it/s]" not in line]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connection refused


def _published_files(hub, tag: str) -> set[str]:
    repo = hub.repos["org/toy"]
    return set(repo.commits[repo.tags[tag]]) - {".gitattributes"}


@pytest.mark.parametrize(
    "endpoint,phase",
    [
        ("commit", "mid-upload"),
        ("commit", "before"),
        ("commit", "after"),
        ("commit", "mid-body"),
        ("tag", "before"),
        ("tag", "after"),
    ],
)
def test_push_survives_a_dropped_connection(store, make, hub, capsys, endpoint, phase):
    v1 = register_build(make())
    local = {p.relative_to(v1.path).as_posix() for p in v1.path.rglob("*") if p.is_file()}
    hub.drop[endpoint] = phase
    assert main(["push", "toy@v1", "org/toy"]) == 1
    line = _one_error_line(capsys)
    assert re.search(r"failed \((RemoteProtocolError|ReadError|WriteError): ", line), line
    assert PUSH in line and next(iter(hub.tokens)) not in line
    # Safe: v1 is either not tagged at all, or (the tag was made, its answer lost) tags exactly our files.
    tags = hub.repos["org/toy"].tags
    assert tags == {} or (phase == "after" and endpoint == "tag" and _published_files(hub, "v1") == local)
    assert Catalog(store).remotes_of("toy", 1) == []

    hub.drop.clear()
    assert main(["push", "toy@v1", "org/toy"]) == 0  # the rerun finishes the job
    assert _published_files(hub, "v1") == local
    assert [r.revision for r in Catalog(store).remotes_of("toy", 1)] == ["v1"]
    if (endpoint, phase) == ("commit", "after"):  # the rerun found its files on main: no second commit
        assert sum(1 for method, path in hub.requests if method == "POST" and "/commit/" in path) == 1


@pytest.mark.parametrize("endpoint,phase", [("info", "before"), ("info", "mid-body"), ("resolve", "before")])
def test_pull_survives_a_dropped_connection(store, make, hub, capsys, tmp_path, endpoint, phase):
    register_build(make())
    assert main(["push", "toy@v1", "org/toy"]) == 0
    other = tmp_path / "elsewhere"
    capsys.readouterr()
    hub.drop[endpoint] = phase
    assert main(["--root", str(other), "pull", "org/toy@v1"]) == 1
    line = _one_error_line(capsys)
    assert "rerun `python -m registry pull org/toy@v1`" in line and "nothing was pulled" in line
    assert Catalog(other).versions() == [] and not any((other / "staging").glob("*"))

    hub.drop.clear()
    assert main(["--root", str(other), "pull", "org/toy@v1"]) == 0
    assert Catalog(other).get("toy", 1) is not None


def test_no_route_to_the_hub(store, make, hub, capsys, tmp_path, monkeypatch):
    register_build(make())
    dead = _closed_port_url()
    assert main(["push", "toy@v1", "org/toy", "--endpoint", dead]) == 1
    line = _one_error_line(capsys)
    assert f"creating dataset repo org/toy on {dead} failed (ConnectError:" in line and PUSH in line
    assert main(["--root", str(tmp_path / "b"), "pull", "org/toy@v1", "--endpoint", dead]) == 1
    assert "ConnectError" in _one_error_line(capsys)
    monkeypatch.setenv("HF_ENDPOINT", dead)  # the resolver (distill, evaluate, pool:) pulls the same way
    with pytest.raises(
        TempdraftError, match=r"no dataset 'org/toy@v1': no such local dataset; as a Hub .*ConnectError"
    ):
        resolve_dataset("org/toy@v1", root=tmp_path / "b")

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    assert main(["push", "toy@v1", "org/toy"]) == 0  # the route is back: both reruns work
    assert main(["--root", str(tmp_path / "b"), "pull", "org/toy@v1"]) == 0


def test_no_route_from_the_command_line(store, make):
    """The real entry point: exactly one line on stderr, exit 1."""
    register_build(make())
    env = {**os.environ, "TEMPDRAFT_REGISTRY": str(store), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "0"}
    env["HF_TOKEN"] = "hf_" + "x" * 34
    proc = subprocess.run(
        [sys.executable, "-m", "registry", "push", "toy@v1", "org/toy", "--endpoint", _closed_port_url()],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "ConnectError" in proc.stderr, proc.stderr
    assert env["HF_TOKEN"] not in proc.stderr + proc.stdout
