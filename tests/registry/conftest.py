from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.registry.dataset_factory import make_dataset_folder
from tests.registry.hub_server import HubStandIn


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


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A started HubStandIn; HF_ENDPOINT points at it and HF_TOKEN holds its token."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # conftest sets offline mode
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    with HubStandIn() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", next(iter(server.tokens)))
        yield server
