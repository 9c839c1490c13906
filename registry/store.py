"""Where versions live on disk (a dataset folder itself: registry/dataset.py).

Store layout (root = `$TEMPDRAFT_REGISTRY`, else `$TEMPDRAFT_HOME/registry`, else
`~/.cache/tempdraft/registry`):

    <root>/catalog.sqlite            the catalog (SQLite, WAL)
    <root>/datasets/<name>/v<N>/     one immutable version: manifest.json, README.md, data/...
    <root>/staging/                  folders on their way in (copied from another filesystem, downloaded)
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import TempdraftError
from core.home import tempdraft_home
from core.names import dataset_name_problem


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
