"""Push a version to the Hugging Face Hub as a dataset repo, and pull one back.

    python -m registry push toy@v3 my-org/toy [--private] [--dry-run]
    python -m registry pull my-org/toy@v3

Push = create the dataset repo (exist_ok) -> ONE commit holding the version folder (README.md card,
manifest.json, data/<config>/<split>-*.parquet; files of an older version that this one lacks are
deleted in the same commit) -> tag `vN` on that commit. The tag comes last, so an interrupted push
publishes nothing under `vN`; re-running it resumes. Then
`datasets.load_dataset("my-org/toy", "t0_7", revision="v3")` works.

Pull = `snapshot_download(repo_type="dataset", revision=...)` into the store's staging folder ->
verify every shard's sha256 -> register (keeping `vN` as the local number when free).

A failed request (HTTP error, refused connection, connection dropped mid-request) raises a one-line
HubError saying which step failed, what the Hub holds now and what to rerun; a rerun resumes. The
transport errors of the client under huggingface_hub (requests: OSError; httpx in 1.x, httpx2 in
2.x: not OSError) are caught alike.

The token comes from `HF_TOKEN` or the HF login (`hf auth login`), is passed to `HfApi` only, and
never printed or written. `HF_ENDPOINT` (or `endpoint=`) points the client at another Hub.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from core.errors import TempdraftError
from core.provenance import mask_secrets
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import MANIFEST, read_manifest
from registry.integrity import ensure_verified
from registry.transfer import register_copy, version_number
from registry.versions import locked_stage

REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
NO_TOKEN = (
    "pushing to the Hub needs a token with write access: set HF_TOKEN in the environment or run "
    "`hf auth login` (nothing was uploaded)"
)


class HubError(TempdraftError):
    """The Hub refused or failed a request; the message says what was (not) published."""


@dataclass
class PushResult:
    repo_id: str
    tag: str
    files: list[tuple[str, int]]  # (path in repo, bytes)
    commit: str | None = None
    dry_run: bool = False
    already_published: bool = False
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(size for _, size in self.files)
        head = (
            f"[dry-run] would upload {len(self.files)} files ({total:,} bytes) to dataset repo "
            f"{self.repo_id} in one commit, then tag it {self.tag}:"
            if self.dry_run
            else f"{self.repo_id}@{self.tag} "
            + ("was already published" if self.already_published else f"published (commit {self.commit})")
        )
        lines = [head]
        if self.dry_run:
            lines += [f"  {path}  ({size:,} bytes)" for path, size in self.files]
            lines.append("  (files of an older version missing here are deleted in the same commit)")
        lines += [f"  deleted {path}" for path in self.deleted]
        return "\n".join(lines)


def _client_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [HfHubHTTPError, OfflineModeIsEnabled, OSError]
    for module in ("httpx", "httpx2"):  # whichever huggingface_hub uses; requests' errors are OSErrors
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except ImportError:
            pass
    return tuple(errors)


HUB_ERRORS = _client_errors()


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID_RE.match(repo_id):
        raise TempdraftError(f"invalid Hub dataset id {repo_id!r}: expected 'org/name'")
    return repo_id


def _api(endpoint: str | None, token: str | None) -> HfApi:
    return HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token or False)


def _failed(step: str, error: BaseException, what: str) -> HubError:
    """One line: the step, the client's own first line (token-shaped strings masked), what to do."""
    detail = (str(error).strip().splitlines() or [""])[0][:300]
    return HubError(mask_secrets(f"{step} failed ({type(error).__name__}: {detail}); {what}"))


def _local_files(folder: Path) -> list[tuple[str, int]]:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return [(p.relative_to(folder).as_posix(), p.stat().st_size) for p in files]


def push_version(
    version: DatasetVersion,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    root: Path | str | None = None,
) -> PushResult:
    """Publish `version` as `repo_id@vN` (see the module docstring)."""
    check_repo_id(repo_id)
    version = ensure_verified(version, root)  # never publish a corrupted shard
    tag = f"v{version.version}"
    result = PushResult(repo_id=repo_id, tag=tag, files=_local_files(version.path), dry_run=dry_run)
    if dry_run:
        return result
    token = token or get_token()
    if not token:
        raise TempdraftError(NO_TOKEN)
    api = _api(endpoint, token)
    rerun = f"`python -m registry push {version.ref} {repo_id}`"
    not_tagged = f"nothing is tagged {tag} on the Hub, so nothing is published: rerun {rerun} to resume"

    # 1. The repo (exist_ok) and what it already holds.
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
    except HUB_ERRORS as e:
        raise _failed(f"creating dataset repo {repo_id} on {api.endpoint}", e, not_tagged) from None
    tags = {t.name: t.target_commit for t in refs.tags}
    head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    if tag in tags:
        return _already_tagged(api, version, result, tags[tag], root, rerun)

    # 2. One commit: the version's files, minus leftovers of the previous version on main.
    local = {path for path, _ in result.files}
    try:
        remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=head)) if head else set()
    except HUB_ERRORS as e:
        raise _failed(f"listing {repo_id}", e, not_tagged) from None
    result.deleted = sorted(p for p in remote - local if p != ".gitattributes")
    operations: list[CommitOperationAdd | CommitOperationDelete] = [
        CommitOperationDelete(path_in_repo=p) for p in result.deleted
    ]
    operations += [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=version.path / p) for p in sorted(local)
    ]
    try:
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=f"{version.ref} ({version.fingerprint[:12]})",
            commit_description=f"tempdraft dataset {version.ref}, fingerprint {version.fingerprint}",
            repo_type="dataset",
            parent_commit=head,  # a concurrent push to main fails instead of being mixed in
        )
    except HUB_ERRORS as e:  # the commit may have landed on main; a rerun finds its files unchanged
        raise _failed(f"uploading {version.ref} to {repo_id}", e, not_tagged) from None
    result.commit = commit.oid

    # 3. Tag that exact commit (not whatever main points to by now): this publishes the version.
    try:
        api.create_tag(
            repo_id,
            tag=tag,
            revision=commit.oid,
            repo_type="dataset",
            tag_message=f"{version.ref} {version.fingerprint}",
        )
    except HUB_ERRORS as e:  # the tag may exist now; a rerun checks it holds this fingerprint
        raise _failed(
            f"tagging commit {commit.oid} of {repo_id} as {tag}",
            e,
            f"{version.ref} may not be published: rerun {rerun} to finish",
        ) from None
    Catalog(root).record_remote(repo_id, tag, commit.oid, version.name, version.version, "push")
    return result


def _already_tagged(
    api: HfApi,
    version: DatasetVersion,
    result: PushResult,
    commit: str,
    root: Path | str | None,
    rerun: str,
) -> PushResult:
    """`vN` exists on the repo: fine if it holds this very fingerprint, an error otherwise."""
    try:
        path = api.hf_hub_download(
            result.repo_id,
            MANIFEST,
            repo_type="dataset",
            revision=commit,
            cache_dir=Catalog(root).root / "hf-cache",
        )
        remote_fp = read_manifest(Path(path).parent).fingerprint
    except (EntryNotFoundError, TempdraftError):
        remote_fp = None
    except HUB_ERRORS as e:
        raise _failed(
            f"reading the manifest of {result.repo_id}@{result.tag}", e, f"nothing was changed: rerun {rerun}"
        ) from None
    if remote_fp != version.fingerprint:
        raise HubError(
            f"{result.repo_id} already has tag {result.tag} holding another dataset "
            f"(fingerprint {remote_fp}); "
            f"{version.ref} is {version.fingerprint}. Push to another repo, or pull {result.repo_id} first."
        )
    Catalog(root).record_remote(result.repo_id, result.tag, commit, version.name, version.version, "push")
    result.commit, result.already_published = commit, True
    return result


def split_hub_id(dataset_id: str) -> tuple[str, str | None]:
    """'org/name@v3' -> ('org/name', 'v3'); 'org/name' -> ('org/name', None)."""
    repo_id, _, revision = dataset_id.partition("@")
    return check_repo_id(repo_id), revision or None


def latest_version_tag(api: HfApi, repo_id: str) -> str | None:
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    numbered = [(n, t.name) for t in refs.tags if (n := version_number(t.name)) is not None]
    return max(numbered)[1] if numbered else None


def pull(
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    root: Path | str | None = None,
) -> DatasetVersion:
    """Download `repo_id` at `revision` (default: its highest `vN` tag, else main) and register it."""
    check_repo_id(repo_id)
    catalog = Catalog(root)
    # 1. Immutable revisions (vN tags, commit shas) pulled or pushed before resolve offline.
    if revision and (version_number(revision) is not None or COMMIT_RE.match(revision)):
        if (known := _known(catalog, repo_id, revision)) is not None:
            return known
    api = _api(endpoint, token or get_token())
    rerun = (
        f"nothing was pulled: rerun `python -m registry pull {repo_id}{'@' + revision if revision else ''}`"
    )
    try:
        revision = revision or latest_version_tag(api, repo_id) or "main"
        sha = api.dataset_info(repo_id, revision=revision).sha
    except RepositoryNotFoundError:
        raise TempdraftError(
            f"no dataset repo {repo_id!r} on {api.endpoint} (or no access with this token)"
        ) from None
    except RevisionNotFoundError:
        raise TempdraftError(f"{repo_id} has no revision {revision!r}{_tag_list(api, repo_id)}") from None
    except HUB_ERRORS as e:
        raise _failed(f"reaching {repo_id} on {api.endpoint}", e, rerun) from None
    if sha and (known := _known(catalog, repo_id, sha)) is not None:
        catalog.record_remote(repo_id, revision, sha, known.name, known.version, "pull")
        return known

    # 2. Download the exact commit into staging, check it, then register it.
    with locked_stage(catalog.root, "pull") as stage:
        try:
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=sha or revision,
                local_dir=stage,
                endpoint=api.endpoint,
                token=token or get_token() or False,
                cache_dir=catalog.root / "hf-cache",
                allow_patterns=[MANIFEST, "README.md", "data/**"],
            )
        except HUB_ERRORS as e:
            raise _failed(f"downloading {repo_id}@{revision} from {api.endpoint}", e, rerun) from None
        if not (stage / MANIFEST).is_file():
            raise TempdraftError(
                f"{repo_id}@{revision} is not a tempdraft dataset (no manifest.json); "
                "read it with datasets.load_dataset directly"
            )
        shutil.rmtree(stage / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
        label, origin = f"{repo_id}@{revision}", f"hub:{repo_id}@{revision}"
        version = register_copy(stage, label, origin, catalog, version_number(revision))
    catalog.record_remote(repo_id, revision, sha, version.name, version.version, "pull")
    return version


def _known(catalog: Catalog, repo_id: str, revision: str) -> DatasetVersion | None:
    remote = catalog.remote(repo_id, revision)
    return catalog.get(remote.name, remote.version) if remote else None


def _tag_list(api: HfApi, repo_id: str) -> str:
    try:
        tags = sorted(t.name for t in api.list_repo_refs(repo_id, repo_type="dataset").tags)
    except HUB_ERRORS:
        return ""
    return f". Available tags: {', '.join(tags) if tags else 'none'}"
