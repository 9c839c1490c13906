"""Benchmark the sampling backends on the real teacher (issue 3).

Run from the project root; a few minutes on 2 CPU cores (keep other heavy work off the machine):

    .venv/bin/python benchmarks/bench_backends.py                              # (a), (b), (c) below
    .venv/bin/python benchmarks/bench_backends.py --sweep-only --block-sizes 32,64,128   # (d) only
    .venv/bin/python benchmarks/bench_backends.py --b-only --prompts 32                  # (b) only

On SmolLM2-135M-Instruct (the offline teacher), 64 GSM8K prompts, 64 new tokens, bf16 where the CPU
has bf16 hardware (AVX512-BF16/AMX), float32 otherwise (`--dtype` overrides), it measures
  (a) our vLLM backend vs our transformers backend (batch 64), tokens/s at T = 1;
  (b) our vLLM backend vs a bare `LLM.generate` on the same requests and the same engine, without and
      with top-20 log-probs (goal >= 0.95x); the two alternate, `--repeats` times, medians kept;
  (c) K = 4 temperatures per prompt in one call vs 4 calls of one temperature each (goal <= 0.8x the
      time). The prefix cache is emptied before every timed call, so each call is a separate run;
  (d) with --block-sizes: per KV block size, one engine each, the same K = 4 grid prefill-only (one new
      token) on --sweep-prompts prompts: prompt tokens served from the prefix cache, and seconds.
It prints a table and one JSON line (machine, load average before/after, versions, numbers) and writes
nothing; the numbers go into benchmarks/README.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builders.backends.base import Backend, SampleRequest, render_prompt, stop_token_ids  # noqa: E402
from builders.recipe import EngineSpec  # noqa: E402
from core.hardware import resolve_dtype  # noqa: E402

GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
TEMPS = [0.3, 0.7, 1.0, 1.3]
Runner = Callable[[list[SampleRequest]], int]  # runs the requests, returns the tokens generated


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    model = names[0] if names else "unknown"
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "avx512_bf16": "avx512_bf16" in cpuinfo,
            "amx_bf16": "amx_bf16" in cpuinfo, "loadavg": [round(x, 2) for x in os.getloadavg()]}


def make_requests(prompts: list[tuple[int, ...]], temps: list[float], new_tokens: int,
                  topk: int = 0) -> list[SampleRequest]:
    return [SampleRequest(f"p{i}-t{t}", p, temperature=t, top_p=1.0, seed=1000 * i + j,
                          max_new_tokens=new_tokens, topk_logprobs=topk)
            for i, p in enumerate(prompts) for j, t in enumerate(temps)]


def counting(backend: Backend) -> Runner:
    return lambda requests: sum(len(r.token_ids) for r in backend.generate(requests))


def timed(run: Runner, requests: list[SampleRequest]) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = run(requests)
    return time.perf_counter() - start, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--dtype", default="auto", help="auto: bfloat16 with bf16 hardware, else float32")
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats of (b); medians are kept")
    ap.add_argument("--compiled", action="store_true", help="vLLM with torch.compile (slow start), not eager")
    ap.add_argument("--block-sizes", default="", help="(d): comma list of KV block sizes")
    ap.add_argument("--sweep-prompts", type=int, default=16, help="(d): prompts in the prefill-only grid")
    ap.add_argument("--sweep-only", action="store_true", help="run (d) only")
    ap.add_argument("--b-only", action="store_true", help="run (b) only (e.g. after a change to the backend)")
    args = ap.parse_args()
    args.dtype = resolve_dtype(args.dtype, "cpu")

    from transformers import AutoTokenizer

    from core.teacher import resolve_teacher

    # Teacher, prompts (rendered once, shared by every engine), stop tokens.
    teacher = resolve_teacher("smollm2-135m-instruct").path
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    questions = [json.loads(x)["question"] for x in GSM8K.read_text().splitlines()[: args.prompts]]
    prompts = [tuple(render_prompt(tokenizer, [{"role": "user", "content": q}])) for q in questions]
    stops = stop_token_ids(tokenizer, teacher)
    info: dict[str, object] = {
        "machine_before": machine(), "prompts": len(prompts), "dtype": args.dtype,
        "new_tokens": args.new_tokens,
        "mode": "compiled" if args.compiled else "eager",
        "mean_prompt_tokens": round(statistics.mean(map(len, prompts)), 1),
    }
    engine = EngineSpec(backend="vllm", enforce_eager=not args.compiled)
    out: dict[str, float] = {}
    if not args.sweep_only:
        out.update(compare(args, teacher, engine, prompts, stops, tokenizer.pad_token_id, info))
    sizes = [int(x) for x in args.block_sizes.split(",") if x]
    out.update(block_sweep(args, teacher, engine, prompts[: args.sweep_prompts], stops, sizes))
    info["machine_after"] = machine()
    report(info, out, sizes)


def compare(args: argparse.Namespace, teacher: str, engine: EngineSpec, prompts: list[tuple[int, ...]],
            stops: list[int], pad_id: int | None, info: dict[str, object]) -> dict[str, float]:
    """(a), (b), (c)."""
    from vllm import SamplingParams, TokensPrompt

    from builders.backends.hf import TransformersBackend
    from builders.backends.vllm import VLLMBackend

    t1 = make_requests(prompts, [1.0], args.new_tokens)
    t1_top20 = make_requests(prompts, [1.0], args.new_tokens, topk=20)
    grid = make_requests(prompts, TEMPS, args.new_tokens)
    out: dict[str, float] = {}

    # 1. One engine serves our backend and the bare calls; the prefix cache is emptied before each run.
    start = time.perf_counter()
    ours = VLLMBackend(teacher, engine=engine, dtype=args.dtype, stop_ids=stops, seed=0)
    info.update(vllm_start_s=round(time.perf_counter() - start, 1), block_size=ours.block_size,
                vllm=ours.version())
    llm = ours.llm

    def run_ours(requests: list[SampleRequest]) -> int:
        llm.reset_prefix_cache()
        return sum(len(r.token_ids) for r in ours.generate(requests))

    def run_bare(requests: list[SampleRequest]) -> int:
        # What a user writes by hand: token prompts, one SamplingParams per request, other options default.
        llm.reset_prefix_cache()
        params = [SamplingParams(temperature=r.temperature, top_p=r.top_p, seed=r.seed,
                                 max_tokens=r.max_new_tokens, stop_token_ids=stops,
                                 logprobs=r.topk_logprobs or None) for r in requests]
        token_prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_token_ids)) for r in requests]
        outputs = llm.generate(token_prompts, params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    run_ours(t1[:8])  # warm-up: first-call allocations are not what we measure
    run_ours(t1_top20[:8])  # the log-prob path has its own first-call cost
    # 2. (b) ours vs bare, alternating (and swapping who goes first) so that load changes hit both alike.
    for label, requests in [("t1", t1), ("t1_top20", t1_top20)]:
        rates: dict[str, list[float]] = {"ours": [], "bare": []}
        for repeat in range(args.repeats):
            arms = [("ours", run_ours), ("bare", run_bare)]
            for name, run in arms if repeat % 2 == 0 else arms[::-1]:
                secs, tokens = timed(run, requests)
                rates[name].append(tokens / secs)
        for name, values in rates.items():
            out[f"{name}_{label}_tok_s"] = statistics.median(values)
        out[f"b_ratio_{label}"] = out[f"ours_{label}_tok_s"] / out[f"bare_{label}_tok_s"]
    if args.b_only:
        ours.close()
        return out

    # 3. (c) K temperatures: one call of 4 x 64 requests vs 4 calls of 64.
    one_s, one_tokens = timed(run_ours, grid)
    out.update(c_cached_prompt_tokens=ours.last_cached_prompt_tokens,
               c_prompt_tokens=sum(len(r.prompt_token_ids) for r in grid))
    four_s, four_tokens = 0.0, 0
    for t in TEMPS:
        secs, tokens = timed(run_ours, [r for r in grid if r.temperature == t])
        four_s, four_tokens = four_s + secs, four_tokens + tokens
    out.update(c_one_call_s=one_s, c_four_calls_s=four_s, c_one_call_tok_s=one_tokens / one_s,
               c_four_calls_tok_s=four_tokens / four_s, c_time_ratio=one_s / four_s)
    ours.close()

    # 4. (a) transformers backend on the same T = 1 requests, batch 64, after the engine has stopped.
    hf = TransformersBackend(teacher, dtype=args.dtype, batch_size=64, device="cpu", stop_ids=stops,
                             pad_id=pad_id)
    hf.generate(t1[:8])
    secs, tokens = timed(counting(hf), t1)
    out["hf_t1_tok_s"] = tokens / secs
    out["a_ratio_vllm_over_hf"] = out["ours_t1_tok_s"] / out["hf_t1_tok_s"]
    hf.close()
    return out


def block_sweep(args: argparse.Namespace, teacher: str, engine: EngineSpec, prompts: list[tuple[int, ...]],
                stops: list[int], sizes: list[int]) -> dict[str, float]:
    """(d): how much of the K-temperature grid's prefill each block size lets the prefix cache share."""
    from builders.backends.vllm import VLLMBackend

    grid = make_requests(prompts, TEMPS, 1)  # one new token: the call is (almost) all prefill
    out: dict[str, float] = {"d_prompts": len(prompts), "d_prompt_tokens": sum(len(p) for p in prompts) * 4}
    for size in sizes:
        sized = engine.model_copy(update={"block_size": size})
        backend = VLLMBackend(teacher, engine=sized, dtype=args.dtype, stop_ids=stops, seed=0)
        backend.generate(make_requests(prompts[:2], [1.0], 1))  # warm-up
        backend.llm.reset_prefix_cache()
        secs, _ = timed(counting(backend), grid)
        out[f"d_block{size}_cached"] = backend.last_cached_prompt_tokens
        out[f"d_block{size}_s"] = secs
        backend.close()
    return out


def report(info: dict[str, object], out: dict[str, float], sizes: list[int]) -> None:
    print(f"\nmachine before: {info['machine_before']}\nmachine after:  {info['machine_after']}")
    print(f"{info.get('vllm', 'vllm')} ({info['mode']}, {info['dtype']}), {info['prompts']} prompts x "
          f"{info['new_tokens']} new tokens, {info['mean_prompt_tokens']} prompt tokens on average")
    if "b_ratio_t1" in out:
        print(f"engine start {info['vllm_start_s']} s, block size {info['block_size']}")
        for label in ("t1", "t1_top20"):
            print(f"(b) {label:8s} tok/s  ours {out[f'ours_{label}_tok_s']:6.0f} | bare LLM.generate "
                  f"{out[f'bare_{label}_tok_s']:6.0f} | {out[f'b_ratio_{label}']:.3f}x (goal >= 0.95)")
    if "hf_t1_tok_s" in out:
        print(f"(a) T=1 tok/s      vLLM backend {out['ours_t1_tok_s']:6.0f} | transformers backend "
              f"{out['hf_t1_tok_s']:6.0f} | {out['a_ratio_vllm_over_hf']:.2f}x")
        print(f"(c) K=4 grid       one call {out['c_one_call_s']:5.1f} s | four calls "
              f"{out['c_four_calls_s']:5.1f} s | {out['c_time_ratio']:.2f}x the time (goal <= 0.8); "
              f"prompt tokens from the prefix cache "
              f"{out['c_cached_prompt_tokens']:.0f}/{out['c_prompt_tokens']:.0f}")
    for size in sizes:
        print(f"(d) block {size:3d}: K=4 prefill-only grid of {out['d_prompts']:.0f} prompts, "
              f"{out[f'd_block{size}_s']:5.1f} s, prompt tokens from the prefix cache "
              f"{out[f'd_block{size}_cached']:.0f}/{out['d_prompt_tokens']:.0f}")
    print(json.dumps({**info, **{k: round(v, 3) for k, v in out.items()}}))


if __name__ == "__main__":
    main()
