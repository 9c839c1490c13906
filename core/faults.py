"""Test hook: kill this process with SIGKILL at a named point of a build (fault-injection tests only).

    TEMPDRAFT_FAULT=renamed python -m builders run recipe.yaml   # dies right after the final rename

Points: `shard-<i>` (shard i written), `assemble` (configs written, before the manifest and the final
rename), `renamed` (dataset folder complete, not yet registered), `staged` (copied into the staging/ of a
store on another filesystem), `register` (version folder renamed into the store, catalog transaction not
committed), `registered` (committed, work folder not yet removed), `imported-copy` (`registry import`:
copied into staging/, not yet hashed).
Unset, it does nothing. Used by tests/builders/test_faults.py and tests/registry/test_transfer.py; not for
users.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if os.environ.get("TEMPDRAFT_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
