"""Where a speculative step's time goes: the sampler's own overhead over the bare forwards (issue 16).

    .venv/bin/python benchmarks/bench_sampler_overhead.py --quick                      # CPU smoke, seconds
    .venv/bin/python benchmarks/bench_sampler_overhead.py --export-baseline REF DIR    # an older sampler
    python benchmarks/bench_sampler_overhead.py --device cuda --baseline-src DIR       # GPU, side by side

Models: SmolLM2-135M's shape (30 layers, hidden 576, vocabulary 49,152) with random weights - a step's
time does not depend on the weights - or real ones with `--teacher PATH`; the draft is its first 4
layers. Every arm runs compiled with a static cache, as `evaluate run --cache static --compile true` does:
the target alone, then the speculative sampler at k = 1..K and T = 0 and 0.6 on the same prompts (EOS
ignored, so every prompt decodes exactly --max-new-tokens). Arms: `head` (this tree's evaluate) and, with
`--baseline-src DIR`, `base` (an older copy of evaluate's specdec/kvcache/probs written by
`--export-baseline REF DIR`); cells alternate between arms. Per cell: ms per step split into draft phase,
verify phase and the rest (host work between steps), ms per token, and the step the cost probe
(evaluate.costprobe, a few sampler steps on one prompt, head's decoder) predicts for the cell, in ms of the
cell's own target-alone step. Prints a Markdown table; JSON to --out.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks.bench_models import load_models  # noqa: E402

MODULES = ("specdec", "kvcache", "probs")


def export_baseline(ref: str, out: Path) -> None:
    """evaluate/{specdec,kvcache,probs}.py at git `ref`, as a package `evaluate_<ref>` under `out`."""
    pkg = out / "evaluate_base"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(f'"""evaluate sampler modules at {ref}."""\n')
    for name in MODULES:
        src = subprocess.run(
            ["git", "show", f"{ref}:evaluate/{name}.py"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
        for other in MODULES:
            src = src.replace(f"from evaluate.{other} import", f"from evaluate_base.{other} import")
        (pkg / f"{name}.py").write_text(src)
    print(f"wrote {pkg} ({ref})")


def step_split(gens, k: int) -> dict:
    """Mean ms per step (all steps, short last ones too) of the draft phase, the verify phase, the rest."""
    steps = [s for g in gens for s in g.steps]
    total = sum(g.decode_s for g in gens) / len(steps)
    draft = sum(s.draft_s for s in steps) / len(steps)
    verify = sum(s.target_s for s in steps) / len(steps)
    tokens = sum(len(g.tokens) for g in gens)
    return {
        "step_ms": 1e3 * total,
        "draft_ms": 1e3 * draft,
        "verify_ms": 1e3 * verify,
        "rest_ms": 1e3 * (total - draft - verify),
        "ms_per_token": 1e3 * sum(g.decode_s for g in gens) / tokens,
        "tokens_per_step": tokens / sum(len(g.steps) for g in gens),
    }


def run_cell(mod, dec, prompts, tokens: int, t: float, k: int | None) -> list:
    extra = {} if k is None else {"k": k}
    for _ in range(2):  # compile, then record the graphs of every decode shape
        dec.generate(prompts[0], tokens, t, torch.Generator(device=dec.device).manual_seed(99), **extra)
    return [
        dec.generate(p, tokens, t, torch.Generator(device=dec.device).manual_seed(i), **extra)
        for i, p in enumerate(prompts)
    ]


def check_graphs(target, prompt: list[int], steps: int = 24) -> float:
    """Largest |logit| difference between the compiled, graph-replayed decode path and the eager one, over
    `steps` greedy tokens of one prompt and a rollback (fp32 copies, so kernels differ only in fusion)."""
    import copy

    from evaluate.kvcache import CachedLM

    model = copy.deepcopy(target).float()
    lms = [CachedLM(model, "static", len(prompt) + steps + 8, compile_decode=c) for c in (False, True)]
    ids = torch.tensor([prompt], device=model.device)
    worst = 0.0
    for lm in lms:
        lm.forward(ids[:, :-1], prefill=True)
    tok = ids[:, -1:]
    for i in range(steps):
        a, b = (lm.forward(tok) for lm in lms)
        worst = max(worst, float((a - b).abs().max()))
        tok = a.argmax(-1, keepdim=True)
        if i == steps // 2:  # the sampler's rollback path: forget 3 tokens, then decode on
            for lm in lms:
                lm.rollback(lm.length - 3)
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="2-layer target, 1-layer draft, 2 prompts x 16 tokens"
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--teacher", default=None, help="a model folder instead of random SmolLM2-shaped weights")
    p.add_argument("--baseline-src", type=Path, default=None, help="folder holding evaluate_base/")
    p.add_argument("--export-baseline", nargs=2, metavar=("REF", "DIR"), default=None)
    p.add_argument("--k-max", type=int, default=3)
    p.add_argument("--temperatures", default="0,0.6")
    p.add_argument("--num-prompts", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.export_baseline:
        export_baseline(args.export_baseline[0], Path(args.export_baseline[1]))
        return
    if args.quick:
        args.num_prompts, args.max_new_tokens, args.k_max = 2, 16, 2
    arms = {"head": "evaluate"}
    if args.baseline_src:
        sys.path.insert(0, str(args.baseline_src))
        arms["base"] = "evaluate_base"
    mods = {arm: importlib.import_module(f"{pkg}.specdec") for arm, pkg in arms.items()}
    target, draft = load_models(args)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, 1000, (48 + 8 * i,), generator=g).tolist() for i in range(args.num_prompts)]
    max_len = 64 + 8 * args.num_prompts + args.max_new_tokens + args.k_max + 8
    decoders = {
        arm: (
            mod.AutoregressiveDecoder(target, [], "static", max_len, True),
            mod.SpeculativeDecoder(target, draft, args.k_max, [], "static", max_len, True),
        )
        for arm, mod in mods.items()
    }
    from evaluate.costprobe import probe_step_costs

    t0 = time.time()
    graphs_vs_eager = check_graphs(target, prompts[0])
    print(f"compiled+graphs vs eager decode, fp32: max |logit diff| {graphs_vs_eager:.2e}", flush=True)
    probes = {}
    cells = []
    for t in [float(x) for x in args.temperatures.split(",")]:
        ks = range(1, args.k_max + 1)
        probe = probes[t] = probe_step_costs(
            target, draft, prompts[0], 16, "static", True, ks, temperature=t, decoder=decoders["head"][1]
        )
        alone_ms = {}
        for arm, (alone, _) in decoders.items():
            gens = run_cell(mods[arm], alone, prompts, args.max_new_tokens, t, None)
            ms = 1e3 * sum(g.decode_s for g in gens) / sum(len(g.tokens) for g in gens)
            cells.append({"arm": arm, "temperature": t, "k": 0, "ms_per_token": ms, "step_ms": ms})
            alone_ms[arm] = ms
        for k in range(1, args.k_max + 1):
            for arm, (_, spec) in decoders.items():
                gens = run_cell(mods[arm], spec, prompts, args.max_new_tokens, t, k)
                cells.append({"arm": arm, "temperature": t, "k": k, **step_split(gens, k)})
                cost = probe["c"] * k + probe["verify_cost"][k]  # in target steps
                cells[-1]["probe_step_ms"] = alone_ms[arm] * cost
    out = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else args.device,
        "torch": torch.__version__,
        "command": " ".join(sys.argv),
        "probe": probes,
        "graphs_vs_eager_max_abs_logit_diff": graphs_vs_eager,
        "cells": cells,
        "seconds": time.time() - t0,
    }
    print(table(cells))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))


def table(cells: list[dict]) -> str:
    rows = [
        "| T | k | arm | step ms | draft ms | verify ms | rest ms | probe step ms | ms/token |",
        "|" + "---|" * 9,
    ]
    for c in cells:
        if c["k"] == 0:
            ms = f"{c['ms_per_token']:.3f}"
            rows.append(f"| {c['temperature']:g} | alone | {c['arm']} | {ms} | | | | | {ms} |")
            continue
        rows.append(
            f"| {c['temperature']:g} | {c['k']} | {c['arm']} | {c['step_ms']:.3f} | {c['draft_ms']:.3f} | "
            f"{c['verify_ms']:.3f} | {c['rest_ms']:.3f} | {c['probe_step_ms']:.3f} | "
            f"{c['ms_per_token']:.3f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
