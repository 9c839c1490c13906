from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import SHARED_DATA, build_tiny_llama


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory, shared_data) -> Path:
    """A 4-layer Llama (vocab 1024, head_dim 64) trained briefly on GSM8K; ChatML template."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_teacher"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch, request):
    """Builds, catalogs and caches go to a per-test folder, except the converted real teacher."""
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "tempdraft_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
