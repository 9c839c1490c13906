"""Where tempdraft keeps its files, and how a file is identified by content.

from core.home import tempdraft_home, sha256_file
tempdraft_home() / "builds"      # $TEMPDRAFT_HOME, else $XDG_CACHE_HOME/tempdraft (~/.cache/tempdraft)
sha256_file(path)                # hex digest, read in 1 MiB chunks
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tempdraft_home() -> Path:
    if os.environ.get("TEMPDRAFT_HOME"):
        return Path(os.environ["TEMPDRAFT_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "tempdraft"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
