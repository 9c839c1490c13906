"""What this machine runs: the dtype (one answer for builders, distill, evaluate and benchmarks) and how
many cores vLLM-CPU binds.

bf16 pays off only where the hardware has it: GPUs, and CPUs with AVX512-BF16 or AMX. On AVX2-only CPUs
(this project's 2-core AMD EPYC box and CI) bf16 matmuls are emulated: a SmolLM2 prefill ran 5x slower
than in float32 and vLLM-CPU sampled 5-10x slower (benchmarks/README.md).
"""

from __future__ import annotations

import os


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX present (read from /proc/cpuinfo; False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# vLLM-CPU keeps one core for its scheduler. Binding the model's threads to every core was 1.12x faster for
# the main job on an idle 2-core box, and 1.2-2.2x slower when other work held a core (benchmarks/README.md,
# "vLLM-CPU thread binding"): small boxes are usually dedicated to the job, larger ones have cores to spare.
SMALL_BOX_CPUS = 4


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask, which cgroups and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def resolve_cpu_threads(choice: str, cpus: int, no_vllm_cpu: bool = False) -> str:
    """`engine.cpu_threads` as it will run: 'auto' -> 'all' on a CPU box of at most SMALL_BOX_CPUS cores,
    else 'default' (vLLM's own binding; also wherever no vLLM-CPU engine runs: GPUs, transformers)."""
    if choice != "auto":
        return choice
    return "all" if not no_vllm_cpu and cpus <= SMALL_BOX_CPUS else "default"


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
