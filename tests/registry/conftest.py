from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.registry.dataset_factory import make_dataset_folder


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A fresh registry root, also exported as $TEMPDRAFT_REGISTRY."""
    root = tmp_path / "store"
    monkeypatch.setenv("TEMPDRAFT_REGISTRY", str(root))
    return root


@pytest.fixture
def make(tmp_path) -> Callable[..., Path]:
    """make(**kwargs) -> a freshly written dataset folder (see dataset_factory.make_dataset_folder)."""
    counter = iter(range(10_000))

    def _make(**kwargs) -> Path:
        return make_dataset_folder(tmp_path / "builds" / str(next(counter)), **kwargs)

    return _make
