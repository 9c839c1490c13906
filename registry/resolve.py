"""One resolver for dataset ids, used by builders, distill and evaluate.

Today: a local dataset folder (holding `manifest.json` and `data/<config>/<split>-*.parquet`).
"""

from __future__ import annotations

from pathlib import Path

from builders.errors import TempdraftError


def resolve_dataset(dataset_id: str) -> Path:
    """Return the local folder of a built dataset version."""
    folder = Path(dataset_id).expanduser()
    if folder.is_dir() and (folder / "manifest.json").is_file():
        return folder.resolve()
    raise TempdraftError(f"no dataset {dataset_id!r}: expected a folder with manifest.json")
