"""Where versions live on disk, and reading a dataset folder's manifest.

Store layout (root = `$TEMPDRAFT_REGISTRY`, else `$TEMPDRAFT_HOME/registry`, else
`~/.cache/tempdraft/registry`):

    <root>/catalog.sqlite            the catalog (SQLite, WAL)
    <root>/datasets/<name>/v<N>/     one immutable version: manifest.json, README.md, data/...
    <root>/staging/                  folders on their way in (copied from another filesystem, downloaded)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.errors import TempdraftError
from core.home import tempdraft_home
from core.names import dataset_name_problem

MANIFEST = "manifest.json"


def store_root(root: Path | str | None = None) -> Path:
    """The registry root: the argument, else `$TEMPDRAFT_REGISTRY`, else `tempdraft_home()/registry`."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("TEMPDRAFT_REGISTRY"):
        return Path(os.environ["TEMPDRAFT_REGISTRY"]).expanduser()
    return tempdraft_home() / "registry"


def version_dir(root: Path, name: str, version: int) -> Path:
    return root / "datasets" / name / f"v{version}"


def staging_dir(root: Path) -> Path:
    path = root / "staging"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: object) -> str:
    if (problem := dataset_name_problem(name)) is not None:
        raise TempdraftError(f"invalid dataset name: {problem}")
    return str(name)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, checked for the fields the registry relies on."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise TempdraftError(f"{folder} is not a built dataset: no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TempdraftError(f"{path}: unreadable manifest ({e})") from None
    problems = []
    if not isinstance(manifest, dict):
        raise TempdraftError(f"{path}: expected a JSON object")
    if not isinstance(manifest.get("fingerprint"), str) or not manifest.get("fingerprint"):
        problems.append("fingerprint: missing or not a string")
    if not isinstance(manifest.get("files", {}), dict):
        problems.append("files: expected {relative path: sha256}")
    try:
        check_name(manifest.get("name"))
    except TempdraftError as e:
        problems.append(f"name: {e}")
    if problems:
        raise TempdraftError(f"{path}: " + "; ".join(problems))
    return manifest
