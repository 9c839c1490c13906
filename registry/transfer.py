"""Import a dataset folder built on another machine or store, without the Hub.

    python -m registry path study_gsm8k_eval@v1          # there: the version's folder; copy it over
    python -m registry import /carried/study_gsm8k_eval/v1   # here: hash, register (keeps v1 when free)

The folder is copied into the store's staging/ (the source is left as it is), every shard is hashed
against its manifest, and the copy is registered like a build: by its manifest's name and fingerprint.
So a builder given the same recipe afterwards finds it "already built" instead of sampling again — how
a GPU machine without the Hub reuses an eval set sampled in an earlier session. A folder that fails its
hash registers nothing. A process killed while registering leaves nothing half-registered (see
registry.versions); one killed while copying leaves an `import-*` copy in staging/, which no lookup reads.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from core.errors import TempdraftError
from core.faults import fault_point
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import MANIFEST
from registry.integrity import verify_folder
from registry.store import staging_dir
from registry.versions import register_folder


def import_folder(folder: Path | str, root: Path | str | None = None) -> DatasetVersion:
    """Register a copy of `folder` (a dataset version's folder: manifest.json, data/, README.md) in this
    store; the existing version when one with the same name and fingerprint is registered already."""
    folder = Path(folder).expanduser().resolve()
    if not (folder / MANIFEST).is_file():
        raise TempdraftError(
            f"{folder} is not a tempdraft dataset folder (no {MANIFEST}): give the folder that "
            "`python -m registry path NAME@vN` prints on the machine that built it"
        )
    catalog = Catalog(root)
    stage = staging_dir(catalog.root) / f"import-{uuid.uuid4().hex[:12]}"
    origin = f"import:{folder}"
    try:
        shutil.copytree(folder, stage)
        fault_point("imported-copy")
        verify_folder(stage, str(folder))
        number = re.fullmatch(r"v(\d+)", folder.name)
        version = register_folder(
            stage, origin=origin, root=catalog.root, preferred_version=int(number[1]) if number else None
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if version.verified_at is None and version.origin == origin:
        catalog.mark_verified(version.name, version.version)  # hashed in staging just above
    return catalog.get(version.name, version.version) or version
