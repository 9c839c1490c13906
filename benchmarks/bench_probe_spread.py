"""How steady is the cost probe? The same probe repeated, one timed round against the median of five.

    .venv/bin/python benchmarks/bench_probe_spread.py --threads 2 --out runs/bench_probe_spread.json   # CPU
    python benchmarks/bench_probe_spread.py --device cuda --compile --out $OUT/probe_spread.json       # GPU

`evaluate.costprobe.probe_step_costs` prices every `k: auto` choice and every search prediction. Round 4c
of docs/study.md found two single-round compiled probes of one architecture putting some k's step 16-19%
apart. Here one speculative decoder (SmolLM2-135M's shape with random weights - a step's time does not
depend on the weights - or `--teacher PATH`; the draft is its first 4 layers) is probed --repeats times per
arm, the arms alternating: `rounds=1` (the old probe) and `rounds=5` (the probe now). Per arm and k: the
sampler's step in target steps (c·k + verify_cost[k]) over the repeats - its median and how far apart the
repeats are ((max - min) / median). Prints a Markdown table and the machine; JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_models import add_model_args, load, machine_line  # noqa: E402

ARMS = (1, 5)  # timed rounds per probe: the old probe, the probe now


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compile", action="store_true", help="static cache + compiled decode (the GPU sampler)")
    p.add_argument("--k-max", type=int, default=4)
    p.add_argument("--steps", type=int, default=16, help="sampler steps per timed round (evaluate's: 16)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=6, help="probes per arm")
    add_model_args(p)
    args = p.parse_args()

    from evaluate.costprobe import probe_step_costs
    from evaluate.specdec import SpeculativeDecoder

    target, draft = load(args)
    prompt = list(range(100, 164))  # 64 tokens; the probe ignores EOS, so any ids do
    cache = "static" if args.compile else "dynamic"
    ks = range(1, args.k_max + 1)
    max_len = len(prompt) + args.steps * (args.k_max + 1) + args.k_max + 8
    spec = SpeculativeDecoder(target, draft, args.k_max, [], cache, max_len, args.compile)
    steps: dict[int, dict[int, list[float]]] = {r: {k: [] for k in ks} for r in ARMS}
    seconds: dict[int, list[float]] = {r: [] for r in ARMS}
    for i in range(args.repeats):
        for rounds in ARMS if i % 2 == 0 else ARMS[::-1]:  # alternate which arm goes first
            t0 = time.perf_counter()
            probe = probe_step_costs(
                target,
                draft,
                prompt,
                steps=args.steps,
                cache=cache,
                compile_decode=args.compile,
                verify_ks=ks,
                temperature=args.temperature,
                decoder=spec,
                rounds=rounds,
            )
            seconds[rounds].append(time.perf_counter() - t0)
            for k in ks:
                steps[rounds][k].append(probe["c"] * k + probe["verify_cost"][k])
        print(f"[bench] repeat {i + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    rows = []
    for rounds in ARMS:
        for k in ks:
            xs = steps[rounds][k]
            med = statistics.median(xs)
            rows.append(
                {
                    "rounds": rounds,
                    "k": k,
                    "median_step": med,
                    "apart": (max(xs) - min(xs)) / med,
                    "cv": statistics.stdev(xs) / statistics.fmean(xs),
                    "probe_s": statistics.median(seconds[rounds]),
                    "steps": xs,
                }
            )
    machine = machine_line(args.device)
    print(
        f"\nMachine: {machine}; {args.repeats} probes per arm, T = "
        f"{args.temperature:g}, {args.steps} steps per round, {cache} cache, compile {args.compile}\n"
    )
    print("| timed rounds | k | step (target steps), median | apart: (max − min) / median | CV | s/probe |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['rounds']} | {r['k']} | {r['median_step']:.3f} | {r['apart']:.1%} | {r['cv']:.1%} | "
            f"{r['probe_s']:.1f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {"machine": machine, "args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
