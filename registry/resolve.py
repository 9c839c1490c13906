"""One resolver for dataset ids, used by builders, distill and evaluate.

    from registry.resolve import resolve_dataset
    folder = resolve_dataset("gsm8k_t07@v3")      # -> Path; then datasets.load_dataset(str(folder), "t0_7")

Accepted ids, tried in this order:
- a local folder holding `manifest.json` (e.g. `./out/gsm8k_t07`);
- `org/name` or `org/name@revision` -> a Hub dataset repo (revision: `vN` tag, branch or commit;
  default: its highest `vN` tag), pulled into the store once, then served from it;
- `name@vN`, `name@latest`, `name` (= latest) -> a version in the local catalog.

Shards are hashed against the manifest on a version's first use (recorded in the catalog), and
again whenever `verify=True`; a missing or corrupted shard raises a TempdraftError naming it.
"""

from __future__ import annotations

from pathlib import Path

from builders.errors import TempdraftError
from registry.hub import REPO_ID_RE, pull, split_hub_id
from registry.integrity import ensure_verified, verify_folder
from registry.versions import get_version


def resolve_dataset(dataset_id: str, *, verify: bool = False, root: Path | str | None = None) -> Path:
    """Return the local folder of a built dataset version."""
    folder = Path(dataset_id).expanduser()
    if folder.is_dir() and (folder / "manifest.json").is_file():
        verify_folder(folder, dataset_id, full=verify)
        return folder.resolve()
    if REPO_ID_RE.match(dataset_id.partition("@")[0]):
        repo_id, revision = split_hub_id(dataset_id)
        version = pull(repo_id, revision, root=root)
    elif "/" in dataset_id or dataset_id.startswith((".", "~")):
        raise TempdraftError(
            f"no dataset {dataset_id!r}: expected a folder with manifest.json, "
            "a Hub id 'org/name[@vN]', or name@vN"
        )
    else:
        version = get_version(dataset_id, root)
    return ensure_verified(version, root, force=verify).path
