"""Shard integrity: every file listed in the manifest's `files` must exist with its recorded sha256,
and no unlisted shard may sit under `data/` (the card's globs would load it).

Every resolve (`registry.resolve.resolve_dataset`, which builders `pool:`, distill, evaluate and
`load_version` go through) checks the folder: a registered version and a path id with a manifest
alike. Hashing is skipped only when the catalog's `verified` table holds a clean hash of exactly
these files: same size, mtime, ctime and inode for manifest.json and every shard (ctime cannot be set
back, so a rewrite that restores the mtime is still seen). Files changed less than `SETTLE_S` seconds
before hashing are not remembered (a coarse filesystem clock could give a quick rewrite the same
stamps), so they are hashed again on the next resolve. A failed check forgets the folder and clears
the version's `verified_at`: nothing is served until the files match again.

    python -m registry verify name@vN        # hash again regardless (`--verify` on `registry path`)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import TempdraftError
from core.home import sha256_file
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import MANIFEST, Manifest, data_files, read_manifest

SETTLE_S = 2.0


class IntegrityError(TempdraftError):
    """A dataset folder's files do not match its manifest; the message names every bad file."""


def integrity_problems(folder: Path, manifest: Manifest, full: bool = True) -> list[str]:
    """One line per bad file; `full=False` checks existence only (no hashing)."""
    problems = []
    files = manifest.files
    for rel, expected in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif full and (actual := sha256_file(path)) != expected:
            problems.append(f"{rel}: corrupted (sha256 {actual[:16]}…, manifest says {expected[:16]}…)")
    for path in data_files(folder):
        rel = path.relative_to(folder).as_posix()
        if rel not in files:
            problems.append(f"{rel}: not listed in the manifest")
    return problems


def verify_folder(folder: Path, label: str | None = None, full: bool = True) -> None:
    """Raise an IntegrityError naming every missing, corrupted or unlisted file."""
    folder = Path(folder)
    _raise(folder, label, integrity_problems(folder, read_manifest(folder), full=full))


def _raise(folder: Path, label: str | None, problems: list[str]) -> None:
    if problems:
        lines = "\n".join(f"  - {folder}/{p}" for p in problems)
        raise IntegrityError(
            f"dataset {label or folder} failed its integrity check:\n{lines}\n"
            "Nothing was read from it. Restore the files (rebuild the recipe, or pull the version again); "
            "`python -m registry verify` re-checks."
        )


def stat_signature(folder: Path, manifest: Manifest) -> tuple[str | None, bool]:
    """(sha256 over size, mtime, ctime, inode of manifest.json and every listed file, settled):
    None when one is missing; `settled` when none changed in the last SETTLE_S seconds."""
    digest, newest = hashlib.sha256(), 0
    for rel in [MANIFEST, *sorted(manifest.files)]:
        try:
            st = os.stat(folder / rel)
        except OSError:
            return None, False
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return digest.hexdigest(), newest < time.time_ns() - SETTLE_S * 1e9


def check_folder(
    folder: Path, label: str | None = None, root: Path | str | None = None, force: bool = False
) -> bool:
    """Hash `folder` against its manifest unless the catalog holds a clean hash of these very files
    (see the module docstring). Returns whether it hashed; raises IntegrityError naming each bad file."""
    folder = Path(folder).resolve()
    catalog = Catalog(root)
    manifest = read_manifest(folder)
    signature, settled = stat_signature(folder, manifest)
    if not force and signature is not None and catalog.verified_signature(folder) == signature:
        _raise(folder, label, integrity_problems(folder, manifest, full=False))  # stray shards: cheap
        return False
    problems = integrity_problems(folder, manifest, full=True)
    if problems:
        catalog.record_verified(folder, None)
        _raise(folder, label, problems)
    catalog.record_verified(folder, signature if settled else None)
    return True


def ensure_verified(
    version: DatasetVersion, root: Path | str | None = None, force: bool = False
) -> DatasetVersion:
    """`check_folder` for a registered version; stamps `verified_at`, or clears it when the check fails."""
    catalog = Catalog(root)
    try:
        hashed = check_folder(version.path, version.ref, root, force=force)
    except TempdraftError:
        catalog.mark_verified(version.name, version.version, verified=False)
        raise
    if not hashed and version.verified_at is not None:
        return version
    stamp = catalog.mark_verified(version.name, version.version)
    return DatasetVersion(**{**version.__dict__, "verified_at": stamp})


@contextmanager
def shard_errors(path: Path) -> Iterator[None]:
    """Around a pyarrow read of one shard: a damaged file (changed after its check) raises an
    IntegrityError naming it instead of pyarrow's ArrowInvalid / OSError traceback."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as e:
        detail = (str(e).strip().splitlines() or [""])[0][:200]
        raise IntegrityError(
            f"{path}: unreadable Parquet shard ({type(e).__name__}: {detail}); "
            "`python -m registry verify` names every damaged shard"
        ) from None
