"""Dataset versions: `name@vN` + fingerprint, immutable, numbered atomically in the catalog.

    from registry.versions import find_version, register_build
    if (v := find_version("gsm8k_t07", fingerprint)) is None:    # skip a build that already exists
        v = register_build(built_folder)                          # moves the folder into the store
    print(v.ref, v.path)                                          # gsm8k_t07@v3 <root>/datasets/gsm8k_t07/v3

`register_build` consumes its folder: it is moved into the store as the next version, or, when a
version with the same name and fingerprint is already registered, deleted (identical fingerprint =
identical recipe, teacher and code; the registered version wins) and the existing version returned.
The folder is consumed only once the catalog has committed, so a process killed while registering
leaves it where it was, and registering it again finishes the job.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from core.errors import TempdraftError
from core.faults import fault_point
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import read_manifest
from registry.store import check_name, staging_dir, version_dir

_REF_RE = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<version>v\d+|latest))?$")


class UnknownDataset(TempdraftError):
    """No version of that name in the catalog (not built yet, or a typo)."""


def find_version(name: str, fingerprint: str, root: Path | str | None = None) -> DatasetVersion | None:
    """The registered version of `name` with this fingerprint, if any."""
    return Catalog(root).find(name, fingerprint)


def register_build(folder: Path, root: Path | str | None = None) -> DatasetVersion:
    """Register a freshly built dataset folder (see the module docstring); returns its version."""
    return register_folder(Path(folder), origin="local", root=root)


def register_folder(
    folder: Path, origin: str, root: Path | str | None = None, preferred_version: int | None = None
) -> DatasetVersion:
    """Move `folder` into the store as the next version of its manifest's name (or `preferred_version`
    when that number is free, as pull does to keep the Hub's numbering); dedupe by fingerprint."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    name, fingerprint = manifest.name, manifest.fingerprint
    missing = [rel for rel in manifest.files if not (folder / rel).is_file()]
    if missing:
        raise TempdraftError(f"{folder}: files listed in the manifest are missing: {', '.join(missing)}")
    catalog = Catalog(root)
    if folder.resolve().is_relative_to((catalog.root / "datasets").resolve()):
        raise TempdraftError(f"{folder} is already inside the registry store; use its name@vN instead")

    # 1. Cheap check without the write lock: most repeated builds stop here.
    existing = catalog.find(name, fingerprint)
    if existing is not None:
        _remove(folder)
        return existing

    # 2. The final step, under the catalog's write lock, is one rename into the store: of the folder itself
    #    when it is on the store's filesystem, else of a copy made in staging/ before taking the lock.
    with _on_store_filesystem(folder, catalog.root) as stage:
        dest = None
        try:
            with catalog.write() as conn:
                # 3. Re-check under the lock: another process may have registered it meanwhile.
                existing = catalog.find(name, fingerprint, conn)
                if existing is None:
                    number = catalog.next_version(conn, name, preferred_version)
                    dest = version_dir(catalog.root, name, number)
                    if dest.exists():  # left by a process killed between this rename and its commit
                        _remove(dest)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    existing = catalog.insert(
                        conn, name, number, fingerprint, dest, manifest.created_at, origin
                    )
                    os.rename(stage, dest)
                    fault_point("register")
        except BaseException:  # rolled back
            if dest is not None and dest.exists() and not stage.exists():
                os.rename(dest, stage)  # give the caller their folder back
            raise
    _remove(folder)  # only now: until the commit, the caller's folder is what a rerun registers
    return existing


@contextmanager
def _on_store_filesystem(folder: Path, root: Path) -> Iterator[Path]:
    """`folder` itself when a rename can move it into the store, otherwise a copy in a `locked_stage`."""
    if os.stat(folder).st_dev == os.stat(root).st_dev:
        yield folder
        return
    with locked_stage(root, "copy") as stage:
        shutil.copytree(folder, stage)
        fault_point("staged")
        yield stage


@contextmanager
def locked_stage(root: Path, prefix: str) -> Iterator[Path]:
    """A new path `staging/<prefix>-<id>` (not created) for a copy on its way into the store, held under a
    file lock while in use and removed afterwards (gone already when it was renamed into the store).
    Copies that killed processes left under the same prefix (their locks free) are removed first; one in
    progress (its lock held) never is."""
    staging = staging_dir(root)
    for stale_lock in staging.glob(f".{prefix}-*.lock"):
        _remove_unless_held(stale_lock, staging / stale_lock.name[1:-5])
    stage = staging / f"{prefix}-{uuid.uuid4().hex[:12]}"
    lock = FileLock(staging / f".{stage.name}.lock")
    with lock:
        try:
            yield stage
        finally:
            _remove(stage)
            Path(lock.lock_file).unlink(missing_ok=True)


def _remove_unless_held(lock_path: Path, copy: Path) -> None:
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return  # a live registration is copying or committing it
    try:
        _remove(copy)
        lock_path.unlink(missing_ok=True)
    finally:
        lock.release()


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' | 'name@latest' -> (name, None); 'name@v3' -> (name, 3)."""
    m = _REF_RE.match(ref.strip())
    if not m:
        raise TempdraftError(
            f"not a dataset version reference: {ref!r} (expected name, name@vN or name@latest)"
        )
    check_name(m["name"])
    version = m["version"]
    return m["name"], int(version[1:]) if version and version != "latest" else None


def get_version(ref: str, root: Path | str | None = None) -> DatasetVersion:
    """Look up `name`, `name@latest` or `name@vN`; unknown ones list what is available."""
    name, number = parse_ref(ref)
    catalog = Catalog(root)
    versions = catalog.versions(name)
    if not versions:
        names = catalog.names()
        known = ", ".join(names) if names else "none yet (build one with `python -m builders run <recipe>`)"
        raise UnknownDataset(f"unknown dataset {name!r} in {catalog.root}. Available datasets: {known}")
    if number is None:
        return versions[-1]
    for v in versions:
        if v.version == number:
            return v
    available = ", ".join(v.ref for v in versions)
    raise TempdraftError(f"unknown version {name}@v{number}. Available versions: {available}")
