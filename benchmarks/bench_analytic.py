"""Teacher-forced β (analytic α, the search's scoring): batched forwards vs one forward per sample.

    .venv/bin/python benchmarks/bench_analytic.py --threads 2 --out runs/bench_analytic_cpu.json   # CPU
    python benchmarks/bench_analytic.py --device cuda --out $OUT/analytic.json                     # GPU

`evaluate.analytic.batched_betas` scores several right-padded samples per forward (up to
`LOGIT_BUDGET` logit values per model); with the budget at 1 it runs one forward per sample, as
`evaluate run --analytic-samples` and `evaluate search` did before. Same models (SmolLM2-135M's shape, random
weights - a forward's time does not depend on them - or `--teacher PATH`; draft = its first 4 layers), same
samples (random token ids: --samples prompts of --prompt-len tokens + --response-len response tokens), arms
alternating --repeats times; prints seconds per arm, the ratio, the largest |Δβ| between the arms, and the
machine; JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_models import add_model_args, load, machine_line  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--prompt-len", type=int, default=96)
    p.add_argument("--response-len", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    add_model_args(p)
    args = p.parse_args()

    import torch

    from evaluate import analytic

    target, draft = load(args)
    g = torch.Generator().manual_seed(0)
    # prompt lengths vary by up to a half, as real prompts do: the batches carry padding
    samples = [
        (
            torch.randint(100, 40000, (args.prompt_len - i % (args.prompt_len // 2),), generator=g).tolist(),
            torch.randint(100, 40000, (args.response_len,), generator=g).tolist(),
        )
        for i in range(args.samples)
    ]
    budget = analytic.LOGIT_BUDGET
    arms = {"batched": budget, "one per sample": 1}

    def timed(limit: int) -> tuple[float, list]:
        analytic.LOGIT_BUDGET = limit
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        betas = analytic.batched_betas(target, draft, samples, args.temperature)
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, betas

    timed(budget)  # warm-up
    seconds = {name: [] for name in arms}
    results = {}
    for i in range(args.repeats):
        for name in list(arms) if i % 2 == 0 else list(arms)[::-1]:
            s, results[name] = timed(arms[name])
            seconds[name].append(s)
    analytic.LOGIT_BUDGET = budget
    diff = max(float((a - b).abs().max()) for a, b in zip(*results.values(), strict=True))
    best = {name: min(xs) for name, xs in seconds.items()}
    machine = machine_line(args.device)
    print(
        f"Machine: {machine}; {args.samples} samples of ~{args.prompt_len}"
        f" + {args.response_len} tokens, T = {args.temperature:g}, best of {args.repeats}"
    )
    print("| arm | s (best) | samples/s |\n|---|---|---|")
    for name, s in best.items():
        print(f"| {name} | {s:.2f} | {args.samples / s:.1f} |")
    print(f"batched: {best['one per sample'] / best['batched']:.2f}x faster; max |Δβ| {diff:.1e}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": machine, "args": vars(args) | {"out": str(args.out)}, "seconds": seconds}
        args.out.write_text(json.dumps(record | {"max_abs_beta_diff": diff}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
