"""Push / pull with the REAL huggingface_hub client against `HubStandIn`, a local HTTP stand-in
for the Hugging Face Hub (tests/registry/hub_server.py): no Hub is reachable from here, so the
server implements the endpoints the client calls, in memory, and can fail commits or tags on demand
(the `hub` fixture is in conftest.py; dropped connections and no route: test_network_faults.py).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import datasets
import pytest

from core.errors import TempdraftError
from registry.catalog import Catalog
from registry.cli import main
from registry.hub import HubError, pull, push_version
from registry.resolve import resolve_dataset
from registry.versions import get_version, register_build

pytestmark = pytest.mark.integration  # starts a local HTTP server


def _commits(hub) -> int:
    return sum(1 for method, path in hub.requests if method == "POST" and "/commit/" in path)


def test_push_then_pull_round_trip(store, make, hub, tmp_path):
    v1 = register_build(make())
    result = push_version(v1, "org/toy")
    repo = hub.repos["org/toy"]
    assert repo.tags == {"v1": result.commit} and _commits(hub) == 1
    local = sorted(p.relative_to(v1.path).as_posix() for p in v1.path.rglob("*") if p.is_file())
    assert sorted(repo.commits[result.commit]) == sorted([".gitattributes", *local])

    other = tmp_path / "elsewhere"
    pulled = pull("org/toy", "v1", root=other)
    assert (pulled.ref, pulled.fingerprint, pulled.origin) == ("toy@v1", v1.fingerprint, "hub:org/toy@v1")
    assert pulled.verified_at is not None
    assert (
        sorted(p.relative_to(pulled.path).as_posix() for p in pulled.path.rglob("*") if p.is_file()) == local
    )
    ds = datasets.load_dataset(str(pulled.path), "t0_7", split="train")
    assert set(ds["temperature"]) == {0.7}

    # Known immutable revisions resolve from the catalog, without the network.
    before = len(hub.requests)
    assert resolve_dataset("org/toy@v1", root=other) == pulled.path
    assert len(hub.requests) == before


def test_next_version_is_one_commit_without_stale_files(store, make, hub, tmp_path):
    v1 = register_build(make())
    v2 = register_build(make(temperatures=(0.0, 0.5)))
    push_version(v1, "org/toy")
    push_version(v2, "org/toy")
    repo = hub.repos["org/toy"]
    assert _commits(hub) == 2
    assert any(p.startswith("data/t1_0/") for p in repo.commits[repo.tags["v1"]])
    v2_files = repo.commits[repo.tags["v2"]]
    assert (
        not any(p.startswith("data/t1_0/") for p in v2_files)
        and "data/t0_5/train-00000-of-00001.parquet" in v2_files
    )
    # Without a revision, pull takes the highest vN tag.
    assert pull("org/toy", root=tmp_path / "elsewhere").fingerprint == v2.fingerprint


def test_pushing_again_is_a_no_op(store, make, hub):
    v1 = register_build(make())
    first = push_version(v1, "org/toy")
    again = push_version(v1, "org/toy")
    assert again.already_published and again.commit == first.commit and _commits(hub) == 1


@pytest.mark.parametrize("step", ["commit", "tag"])
def test_interrupted_push_leaves_no_tag_and_resumes(store, make, hub, step):
    v1 = register_build(make())
    hub.fail[step] = 500
    with pytest.raises(HubError, match="(nothing is tagged v1|may not be published)"):
        push_version(v1, "org/toy")
    assert hub.repos["org/toy"].tags == {}
    assert Catalog(store).remotes_of("toy", 1) == []
    hub.fail.clear()
    result = push_version(v1, "org/toy")  # re-running finishes the job
    assert hub.repos["org/toy"].tags == {"v1": result.commit}


def test_push_without_token_says_how_to_get_one(store, make, hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    register_build(make())
    with pytest.raises(TempdraftError, match="set HF_TOKEN .* or run `hf auth login`"):
        push_version(get_version("toy@v1"), "org/toy")
    assert main(["push", "toy@v1", "org/toy"]) == 2
    err = capsys.readouterr().err
    assert "needs a token" in err and "Traceback" not in err
    assert hub.requests == []


def test_dry_run_lists_files_and_sends_nothing(store, make, hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    register_build(make())
    assert main(["push", "toy@v1", "org/toy", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[dry-run] would upload" in out and "then tag it v1" in out
    assert "data/t0_7/train-00000-of-00001.parquet" in out and "manifest.json" in out
    assert hub.requests == []


def test_tag_taken_by_another_dataset_is_refused(store, make, hub, tmp_path):
    push_version(register_build(make(), root=tmp_path / "machine_a"), "org/toy", root=tmp_path / "machine_a")
    mine = register_build(make(recipe_extra={"seed": 5}))
    with pytest.raises(HubError, match="already has tag v1 holding another dataset"):
        push_version(mine, "org/toy")


def test_pull_errors(store, make, hub):
    push_version(register_build(make()), "org/toy")
    with pytest.raises(TempdraftError, match="has no revision 'v7'. Available tags: v1"):
        pull("org/toy", "v7")
    with pytest.raises(TempdraftError, match="no dataset repo 'org/missing'"):
        pull("org/missing", "v1")


def test_token_is_never_printed_or_written(store, make, hub, tmp_path):
    token = next(iter(hub.tokens))
    register_build(make())
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert main(["push", "toy@v1", "org/toy"]) == 0
        assert main(["--root", str(tmp_path / "b"), "pull", "org/toy@v1"]) == 0
        hub.fail["commit"] = 401
        assert main(["push", "toy@v1", "org/other"]) == 1
    assert token not in out.getvalue() + err.getvalue()
    for path in [*store.rglob("*"), *(tmp_path / "b").rglob("*")]:
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    for data in hub.repos["org/toy"].commits.values():
        assert not any(token.encode() in blob for blob in data.values())
    assert json.loads((get_version("toy@v1").path / "manifest.json").read_text())  # still a manifest


LOAD_FROM_HUB = """
import sys, datasets
t07 = datasets.load_dataset("org/toy", "t0_7", revision="v1")
default = datasets.load_dataset("org/toy", split="train", revision="v1")
print(t07["train"].num_rows, sorted(set(t07["train"]["temperature"])), default.num_rows)
"""


def test_load_dataset_reads_a_tagged_version_from_the_hub(store, make, hub, tmp_path):
    """`datasets` reads HF_ENDPOINT at import, so it runs in a child process pointed at the stand-in."""
    push_version(register_build(make(rows=4)), "org/toy")
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_FROM_HUB], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        proc.stdout.split("\n")[-2] == "4 [0.7] 8"
    )  # t0_7 train rows, its temperature, mixture (default) train rows


def test_pull_refuses_a_corrupted_or_foreign_download(store, make, hub, tmp_path):
    result = push_version(register_build(make()), "org/toy")
    files = hub.repos["org/toy"].commits[result.commit]
    files["data/t0_7/train-00000-of-00001.parquet"] = b"not parquet"
    other = tmp_path / "elsewhere"
    with pytest.raises(TempdraftError, match="data/t0_7/train-00000-of-00001.parquet: corrupted"):
        pull("org/toy", "v1", root=other)
    del files["manifest.json"]
    with pytest.raises(TempdraftError, match="not a tempdraft dataset"):
        pull("org/toy", "v1", root=other)
    assert Catalog(other).versions() == [] and not any((other / "staging").iterdir())


def test_pull_refuses_a_version_whose_recipe_this_store_sampled_again(store, make, hub, tmp_path):
    """Same name and fingerprint here, other shards (the recipe sampled again on this machine): the pull
    names both instead of returning the local version as if it were the Hub's."""
    there = tmp_path / "there"
    push_version(register_build(make(), root=there), "org/toy", root=there)
    local = register_build(make(rows=4))  # same recipe, other rows
    with pytest.raises(TempdraftError, match="same recipe.*other shards"):
        pull("org/toy", "v1")
    assert Catalog().versions() == [local] and not any((store / "staging").glob("pull-*"))
