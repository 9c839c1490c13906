from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.tiny_models import SHARED_DATA, build_tiny_llama

# huggingface_hub and datasets read these once, at import, and some test modules import them while being
# collected (before any fixture runs): set them here, or a Hub lookup waits on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_teacher(shared_data) -> Path:
    """A 4-layer Llama (vocab 1024, head_dim 64) trained briefly on GSM8K; ChatML template.

    Built once per version of tests/tiny_models.py into a test cache (training it takes ~40 s),
    atomically, so parallel or interrupted sessions never see half a model."""
    source = (Path(__file__).parent / "tiny_models.py").read_bytes()
    cache = Path(os.environ.get("TEMPDRAFT_TEST_CACHE", Path.home() / ".cache" / "tempdraft-tests"))
    folder = cache / f"tiny_teacher-{hashlib.sha256(source).hexdigest()[:12]}"
    if not (folder / "config.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".building-"))
        build_tiny_llama(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another session finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# The real teacher is converted once into the user's cache, not into each test's private home.
_REAL_HOME = os.environ.get("TEMPDRAFT_HOME")


@pytest.fixture(scope="session")
def smollm2_teacher() -> Path:
    """The real offline teacher (SmolLM2-135M-Instruct, converted once, ~260 MB); use in `slow` tests."""
    from core.teacher import resolve_teacher

    saved = os.environ.pop("TEMPDRAFT_HOME", None)
    if _REAL_HOME:
        os.environ["TEMPDRAFT_HOME"] = _REAL_HOME
    try:
        return Path(resolve_teacher("smollm2-135m-instruct").path)
    finally:
        os.environ.pop("TEMPDRAFT_HOME", None)
        if saved is not None:
            os.environ["TEMPDRAFT_HOME"] = saved


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch, request):
    """Builds, catalogs and caches go to a per-test folder, except the converted real teacher."""
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "tempdraft_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
