"""Environment variables set for the length of a block: what the processes started inside it (an engine,
spawned workers) inherit, with the caller's own environment restored afterwards.

    with environment_set({"OMP_NUM_THREADS": "4", "SOME_VAR": None}):   # None: unset inside the block
        start_processes()
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def environment_set(values: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with `values` inside the block; every variable named is restored after it."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)
