"""Shard integrity: every file listed in `manifest["files"]` must exist with its recorded sha256,
and no unlisted shard may sit under `data/` (the card's globs would load it).

A version is hashed in full on first use and the result recorded in the catalog (`verified_at`);
later uses only check that the listed files exist. `python -m registry verify name@vN` (or
`--verify` on the resolver) hashes again regardless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builders.errors import TempdraftError
from builders.teacher import sha256_file
from registry.catalog import Catalog, DatasetVersion
from registry.store import read_manifest


def integrity_problems(folder: Path, manifest: dict[str, Any], full: bool = True) -> list[str]:
    """One line per bad file; `full=False` checks existence only (no hashing)."""
    problems = []
    files: dict[str, str] = manifest.get("files") or {}
    for rel, expected in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif full and (actual := sha256_file(path)) != expected:
            problems.append(f"{rel}: corrupted (sha256 {actual[:16]}…, manifest says {expected[:16]}…)")
    for path in sorted(folder.glob("data/**/*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in files:
            problems.append(f"{rel}: not listed in the manifest")
    return problems


def verify_folder(folder: Path, label: str | None = None, full: bool = True) -> None:
    """Raise a TempdraftError naming every missing, corrupted or unlisted file."""
    folder = Path(folder)
    problems = integrity_problems(folder, read_manifest(folder), full=full)
    if problems:
        lines = "\n".join(f"  - {folder}/{p}" for p in problems)
        raise TempdraftError(f"dataset {label or folder} failed its integrity check:\n{lines}")


def ensure_verified(
    version: DatasetVersion, root: Path | str | None = None, force: bool = False
) -> DatasetVersion:
    """Hash the version's shards unless already verified (or `force`); record the result."""
    if version.verified_at is not None and not force:
        verify_folder(version.path, version.ref, full=False)
        return version
    verify_folder(version.path, version.ref, full=True)
    stamp = Catalog(root).mark_verified(version.name, version.version)
    return DatasetVersion(**{**version.__dict__, "verified_at": stamp})
