"""Bring a dataset version in from elsewhere: `registry import` (a folder from another machine or store,
no Hub) and the registration step `registry pull` shares with it.

    python -m registry path study_gsm8k_eval@v1              # there: the version's folder; copy it over
    python -m registry import /carried/study_gsm8k_eval/v1   # here: hash, register (keeps v1 when free)

The folder's manifest.json, README.md and data/ are copied into a locked staging/ copy (the source is
left as it is), every shard is hashed against the manifest, and the copy is registered like a build: by
its manifest's name and fingerprint. So a builder given the same recipe afterwards finds it "already
built" instead of sampling again — how a GPU machine without the Hub reuses an eval set sampled in an
earlier session. A folder that fails its hash registers nothing. A version of the same name and
fingerprint with other shards (the recipe sampled again on this machine) is refused, not silently kept
in the copy's place. A process killed while registering leaves nothing half-registered (see
registry.versions); a copy left in staging/ by a killed import is removed by the next one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from core.errors import TempdraftError
from core.faults import fault_point
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import MANIFEST, read_manifest
from registry.integrity import verify_folder
from registry.versions import locked_stage, register_folder

VERSION_NUMBER_RE = re.compile(r"^v([1-9]\d*)$")  # a version's folder name or Hub tag: v1, v2, ...


def version_number(name: str) -> int | None:
    """N of a `vN` name (a version folder, a Hub tag), None for anything else."""
    return int(m[1]) if (m := VERSION_NUMBER_RE.match(name)) else None


def import_folder(folder: Path | str, root: Path | str | None = None) -> DatasetVersion:
    """Register a copy of `folder` (a dataset version's folder) in this store; the existing version when
    one with the same name, fingerprint and shards is registered already. `vN` is taken from the folder's
    name as given (before resolving links)."""
    given = Path(folder).expanduser()
    source = given.resolve()
    if not (source / MANIFEST).is_file():
        raise TempdraftError(
            f"{source} is not a tempdraft dataset folder (no {MANIFEST}): give the folder that "
            "`python -m registry path NAME@vN` prints on the machine that built it"
        )
    catalog = Catalog(root)
    with locked_stage(catalog.root, "import") as stage:
        try:
            stage.mkdir()
            for part in (MANIFEST, "README.md", "data"):  # what a version holds (as pull downloads it)
                if (source / part).is_dir():
                    shutil.copytree(source / part, stage / part)
                elif (source / part).is_file():
                    shutil.copy2(source / part, stage / part)
        except OSError as e:
            raise TempdraftError(f"copying {source}: {e}; nothing was registered") from None
        fault_point("imported-copy")
        return register_copy(stage, str(source), f"import:{source}", catalog, version_number(given.name))


def register_copy(
    stage: Path, label: str, origin: str, catalog: Catalog, number: int | None
) -> DatasetVersion:
    """A staged copy (downloaded or carried): hash every shard, register it (as vN when `number` is free)
    and stamp it verified. Refuses a registered version of the same name and fingerprint whose shards
    differ: the same recipe sampled again elsewhere (GPU sampling is not bit-reproducible)."""
    verify_folder(stage, label)
    files = read_manifest(stage).files
    version = register_folder(stage, origin=origin, root=catalog.root, preferred_version=number)
    if version.origin != origin and read_manifest(version.path).files != files:
        raise TempdraftError(
            f"{label} has the fingerprint of {version.ref} (same recipe) but other shards: that recipe was "
            f"sampled again here. {version.ref} was kept and the copy was not registered; to use the copy, "
            "import it into a store without that version (`--root DIR`)"
        )
    if version.verified_at is None and version.origin == origin:
        catalog.mark_verified(version.name, version.version)  # hashed in staging just above
    return catalog.get(version.name, version.version) or version
