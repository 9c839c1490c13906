"""Builder (transformers engine) vs bare `generate` on the same requests, measured side by side.

    .venv/bin/python benchmarks/bench_builder.py [--prompts 64] [--new-tokens 64] [--repeats 2] [--out results.json]

(a) T = 1: tokens/s of a bare batched `model.generate(do_sample=True, temperature=1, top_k=0, top_p=1)`
    vs tempdraft's TransformersBackend (per-row temperature and seed) on the same rendered prompts.
(b) A 4-temperature grid in one builder pass (full batches of mixed temperatures) vs four separate
    bare runs, one per temperature.
Teacher: SmolLM2-135M-Instruct (offline alias), --dtype auto (float32 on AVX2-only CPUs); prompts: GSM8K train from ../shared/data.
Prints ratios and the machine; writes JSON when --out is given. Goals (issue 2): (a) >= 0.95x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from builders.backends.base import SampleRequest, render_prompt, stop_token_ids
from builders.backends.hf import TransformersBackend
from core.hardware import resolve_dtype
from core.teacher import resolve_teacher

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "train.jsonl"
GRID = [0.25, 0.5, 0.75, 1.0]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "loadavg_1m": os.getloadavg()[0], "python": platform.python_version(), "torch": torch.__version__}


def bare_generate(model, prompts: list[list[int]], temperature: float, new_tokens: int, stops: list[int],
                  pad: int, batch: int) -> int:
    """Plain transformers sampling, batch by batch; returns generated tokens (up to and including EOS)."""
    tokens = 0
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        kw = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, eos_token_id=stops,
                                 pad_token_id=pad, **kw)
        for row in out[:, width:].tolist():
            ends = [i for i, t in enumerate(row) if t in stops]
            tokens += ends[0] + 1 if ends else len(row)
    return tokens


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="alternate the arms this many times, keep the best")
    ap.add_argument("--dtype", default="auto", help="auto: bfloat16 with bf16 hardware (GPU, AVX512-BF16/AMX), else float32")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.dtype = resolve_dtype(args.dtype)
    if args.threads:
        torch.set_num_threads(args.threads)

    teacher = resolve_teacher("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(teacher.path)
    stops, pad = stop_token_ids(tok, teacher.path), tok.pad_token_id
    questions = [json.loads(x)["question"] for x in DATA.read_text().splitlines()[: args.prompts]]
    prompts = [render_prompt(tok, [{"role": "user", "content": q}]) for q in questions]
    backend = TransformersBackend(teacher.path, dtype=args.dtype, batch_size=args.batch, stop_ids=stops, pad_id=pad)
    model = backend.model  # the same weights object for both arms

    def requests(temps: list[float]) -> list[SampleRequest]:
        return [SampleRequest(f"{i}-{t}", tuple(p), t, 1.0, 1000 * i + int(t * 100), args.new_tokens, 0)
                for i, p in enumerate(prompts) for t in temps]

    def ours(temps: list[float]) -> int:
        return sum(len(r.token_ids) for r in backend.generate(requests(temps)))

    best: dict[str, tuple[int, float]] = {}

    def record(name: str, tokens: int, seconds: float) -> None:
        if name not in best or tokens / seconds > best[name][0] / best[name][1]:
            best[name] = (tokens, seconds)

    bare_generate(model, prompts[:8], 1.0, 8, stops, pad, args.batch)  # warm-up
    for _ in range(args.repeats):  # alternate arms so drifting load hits both alike
        record("bare_T1", *timed(lambda: bare_generate(model, prompts, 1.0, args.new_tokens, stops, pad, args.batch)))
        record("builder_T1", *timed(lambda: ours([1.0])))
        record("bare_grid_4_runs", *timed(lambda: sum(
            bare_generate(model, prompts, t, args.new_tokens, stops, pad, args.batch) for t in GRID)))
        record("builder_grid_1_pass", *timed(lambda: ours(GRID)))

    rate = {k: t / s for k, (t, s) in best.items()}
    result = {
        "machine": machine(), "prompts": args.prompts, "new_tokens": args.new_tokens, "batch": args.batch,
        "dtype": args.dtype, "teacher": teacher.to_dict(),
        "tokens_per_s": {k: round(v, 1) for k, v in rate.items()},
        "seconds": {k: round(s, 2) for k, (_, s) in best.items()},
        "ratio_builder_vs_bare_T1": round(rate["builder_T1"] / rate["bare_T1"], 3),
        "ratio_grid_time_1pass_vs_4runs": round(best["builder_grid_1_pass"][1] / best["bare_grid_4_runs"][1], 3),
        "ratio_grid_tok_s_1pass_vs_4runs": round(rate["builder_grid_1_pass"] / rate["bare_grid_4_runs"], 3),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
