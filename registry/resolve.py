"""One resolver for dataset ids, used by builders, distill and evaluate; and the load helper over it.

    from registry.resolve import load_version, resolve_dataset
    folder = resolve_dataset("gsm8k_t07@v3")      # -> Path of a verified folder
    ds = load_version("gsm8k_t07@v3", "t0_7")     # = datasets.load_dataset(str(folder), "t0_7")

Accepted ids, tried in this order:
- a local folder holding `manifest.json` (e.g. `./out/gsm8k_t07`);
- `org/name` or `org/name@revision` -> a Hub dataset repo (revision: `vN` tag, branch or commit;
  default: its highest `vN` tag), pulled into the store once, then served from it;
- `name@vN`, `name@latest`, `name` (= latest) -> a version in the local catalog.

Every resolve checks the folder's shards against the manifest's sha256 values (hashing only when
the files changed since their last clean hash: registry/integrity.py), for path ids too; a
missing, corrupted or unlisted shard raises an IntegrityError (a TempdraftError: exit 2 at every
CLI) naming it, and nothing is served. A plain `datasets.load_dataset(folder)` skips this check
and reads through datasets' own cache: use `load_version`, or run `python -m registry verify` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import TempdraftError
from registry.dataset import MANIFEST
from registry.hub import REPO_ID_RE, pull, split_hub_id
from registry.integrity import IntegrityError, check_folder, ensure_verified
from registry.versions import get_version


def resolve_dataset(dataset_id: str, *, verify: bool = False, root: Path | str | None = None) -> Path:
    """Return the local folder of a built dataset version, its shards checked (`verify`: hashed)."""
    folder = Path(dataset_id).expanduser()
    if folder.is_dir():
        if not (folder / MANIFEST).is_file():
            raise TempdraftError(f"{dataset_id} is a folder but not a built dataset: it has no {MANIFEST}")
        check_folder(folder, dataset_id, root, force=verify)
        return folder.resolve()
    org = dataset_id.partition("/")[0]
    if REPO_ID_RE.match(dataset_id.partition("@")[0]) and not Path(org).expanduser().is_dir():
        repo_id, revision = split_hub_id(dataset_id)
        try:
            version = pull(repo_id, revision, root=root)
        except IntegrityError:
            raise  # the Hub answered: its files are named, not the id
        except TempdraftError as e:
            raise type(e)(
                f"no dataset {dataset_id!r}: no such local dataset; as a Hub dataset id: {e}"
            ) from None
    elif "/" in dataset_id or dataset_id.startswith((".", "~")):
        raise TempdraftError(
            f"no dataset {dataset_id!r}: no such local dataset (no folder {folder}); expected a folder "
            "with manifest.json, a Hub id 'org/name[@vN]', or name@vN"
        )
    else:
        version = get_version(dataset_id, root)
    return ensure_verified(version, root, force=verify).path


def load_version(
    dataset_id: str,
    config: str | None = None,
    *,
    verify: bool = False,
    root: Path | str | None = None,
    **kwargs: Any,
) -> Any:
    """`datasets.load_dataset` on the resolved (checked) folder of `dataset_id`; kwargs go to it
    (`split=`, ...). Refuses, naming the shard, a version whose files do not match its manifest."""
    import datasets

    folder = resolve_dataset(dataset_id, verify=verify, root=root)
    return datasets.load_dataset(str(folder), config, **kwargs)
