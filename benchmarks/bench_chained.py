"""Chained vs i.i.d. prediction of tokens per target call, against the sampler's measured value, k = 1..4.

    .venv/bin/python benchmarks/bench_chained.py --quick --threads 1        # CPU: 8 prompts × 48 tokens, T=1
    python benchmarks/bench_chained.py --device cuda --teacher PATH        # GPU: 32 prompts × 128, T=0.5,1
    python benchmarks/bench_chained.py --drafts noise:0.3,layers:4,runs/draft-t1_0   # drafts to compare

For each decoding temperature and draft, on the same chat-templated GSM8K prompts:
  1. held-out teacher samples: the target alone at T (seeds 1000 + i, disjoint from the sampler's);
  2. β at every position of them (one teacher-forced pass, `evaluate.analytic.analytic_betas`) ->
     the chained prediction E[accepted | k] + 1 with its bootstrap 95% interval (`evaluate.chained`),
     the same with start positions weighted by how often the sampler starts a step there
     (`weighting="steps"`), and the i.i.d. one (1 − α^(k+1)) / (1 − α);
  3. the speculative sampler at k = 1..k_max (one decoder, per-call k; seeds i): measured tokens per call
     over full-k steps, mean (accepted + 1), with its standard error (prompts as clusters), and over all
     steps (tokens / target calls: includes the shortened steps before max_new_tokens and EOS cuts);
  4. z = (measured − prediction) / joint standard error, per prediction.
Drafts: `noise:S` (the target with noise S × each tensor's spread: mid-range acceptance, target cost),
`layers:N` (its first N layers, untrained) or a draft folder. Writes JSON (machine, command, every number)
to --out and prints a Markdown table. Needs only torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

import torch  # noqa: E402
from bench_specdec import add_decode_args, common_setup, load_prompts  # noqa: E402

from core.hardware import resolve_dtype  # noqa: E402
from core.provenance import recorded_command  # noqa: E402
from distill.models import first_n_layers  # noqa: E402
from evaluate.analytic import analytic_betas  # noqa: E402
from evaluate.chained import chained_acceptance  # noqa: E402
from evaluate.costmodel import expected_tokens_per_call  # noqa: E402
from evaluate.drafts import noised_draft  # noqa: E402
from evaluate.env import environment  # noqa: E402
from evaluate.metrics import full_step_tokens_per_call  # noqa: E402
from evaluate.report import json_safe  # noqa: E402
from evaluate.runs import run_prompts, stop_token_ids  # noqa: E402
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="8 prompts × 48 new tokens at T=1 (default 32 × 128)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    p.add_argument("--teacher", default=None, help="target folder (default: smollm2-135m-instruct alias)")
    p.add_argument("--drafts", default="noise:0.3", help="comma-separated noise:S, layers:N or folders")
    p.add_argument("--temperatures", default=None, help="default 1 (--quick) or 0.5,1")
    p.add_argument("--k-max", type=int, default=4)
    add_decode_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON path (default runs/bench_chained/<device>-<time>.json)")
    args = p.parse_args(argv)
    args.num_prompts = args.num_prompts or (8 if args.quick else 32)
    args.max_new_tokens = args.max_new_tokens or (48 if args.quick else 128)
    args.temperatures = args.temperatures or ("1" if args.quick else "0.5,1")
    if args.compile and args.cache != "static":
        p.error("--compile needs --cache static")
    return args


def make_draft(spec: str, target, device: str, dtype: str):
    kind, _, value = spec.partition(":")
    if kind == "noise":
        return noised_draft(target, float(value))
    if kind == "layers":
        return first_n_layers(target, int(value))
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(spec, dtype=getattr(torch, dtype)).to(device).eval()


def main(argv: list[str] | None = None) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    args = parse_args(argv)
    device = common_setup(args)
    dtype = resolve_dtype(args.dtype, device)
    temps = [float(x) for x in args.temperatures.split(",")]
    started = time.time()

    # 1. Models and prompts.
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    target = AutoModelForCausalLM.from_pretrained(args.teacher, dtype=getattr(torch, dtype)).to(device).eval()
    drafts = {name: make_draft(name, target, device, dtype) for name in args.drafts.split(",")}
    prompts, prompt_source = load_prompts(tokenizer, args.num_prompts, args.prompts)
    eos = stop_token_ids(tokenizer, target)
    max_len = max(map(len, prompts)) + args.max_new_tokens + args.k_max + 2
    alone = AutoregressiveDecoder(target, eos, args.cache, max_len, args.compile)
    specs = {
        n: SpeculativeDecoder(target, d, args.k_max, eos, args.cache, max_len, args.compile)
        for n, d in drafts.items()
    }
    out: dict = {
        "command": recorded_command("python benchmarks/bench_chained.py", sys.argv[1:]),
        "machine": environment(device),
        "settings": {**vars(args), "dtype": dtype, "temperatures": temps, "prompt_source": prompt_source},
        "rows": [],
    }
    for t in temps:
        # 2. Held-out teacher samples at T (seeds disjoint from the sampler's).
        samples = [
            (p, g.tokens)
            for p, g in zip(prompts, run_prompts(alone, prompts, args.max_new_tokens, t, 1000), strict=True)
        ]
        for name, draft in drafts.items():
            an, betas = analytic_betas(target, draft, samples, t)
            chained = chained_acceptance(betas, args.k_max)
            stepwise = chained_acceptance(betas, args.k_max, weighting="steps")
            # 3. The sampler at every k.
            for est, st in zip(chained, stepwise, strict=True):
                gens = run_prompts(specs[name], prompts, args.max_new_tokens, t, args.seed, k=est.k)
                mean, se, steps = full_step_tokens_per_call(gens, est.k)
                se_c = (est.high - est.low) / (2 * 1.96)
                se_st = (st.high - st.low) / (2 * 1.96)
                out["rows"].append(
                    {
                        "draft": name,
                        "temperature": t,
                        "alpha_analytic": an.alpha,
                        "k": est.k,
                        "chained": est.tokens_per_call,
                        "chained_low": est.low,
                        "chained_high": est.high,
                        "step_weighted": st.tokens_per_call,
                        "step_weighted_low": st.low,
                        "step_weighted_high": st.high,
                        "iid": expected_tokens_per_call(an.alpha, est.k),
                        "measured_full_k": mean,
                        "measured_full_k_se": se,
                        "measured_full_k_steps": steps,
                        "measured_all_steps": sum(len(g.tokens) for g in gens)
                        / sum(g.target_calls for g in gens),
                        "z_chained": (mean - est.tokens_per_call) / math.hypot(se, se_c),
                        "z_step_weighted": (mean - st.tokens_per_call) / math.hypot(se, se_st),
                        "z_iid": (mean - expected_tokens_per_call(an.alpha, est.k)) / math.hypot(se, se_c),
                    }
                )
                print(f"[bench] T={t:g} {name} k={est.k}: {time.time() - started:.0f} s", file=sys.stderr)
    out["wall_s"] = time.time() - started
    path = (
        Path(args.out)
        if args.out
        else REPO / "runs" / "bench_chained" / f"{device}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(out), indent=2, default=str))
    print(table(out))
    print(f"\nwrote {path}", file=sys.stderr)
    return out


def table(out: dict) -> str:
    m = out["machine"]
    lines = [
        f"{m['device_name']} ({m['device']}, {m['torch_threads']} threads, load "
        f"{'/'.join(f'{x:.1f}' for x in m['load_average_1m_5m_15m'] or [])} at start), "
        f"{out['settings']['num_prompts']} prompts × {out['settings']['max_new_tokens']} tokens, "
        f"{out['wall_s']:.0f} s",
        "",
        "| draft | T | α analytic | k | chained (95% CI) | step-weighted (95% CI) | i.i.d. "
        "| measured full-k (±se) | steps | measured all | z chained | z step-w. | z i.i.d. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['draft']} | {r['temperature']:g} | {r['alpha_analytic']:.3f} | {r['k']} "
            f"| {r['chained']:.3f} [{r['chained_low']:.3f}, {r['chained_high']:.3f}] "
            f"| {r['step_weighted']:.3f} [{r['step_weighted_low']:.3f}, {r['step_weighted_high']:.3f}] "
            f"| {r['iid']:.3f} "
            f"| {r['measured_full_k']:.3f} (±{r['measured_full_k_se']:.3f}) | {r['measured_full_k_steps']} "
            f"| {r['measured_all_steps']:.3f} | {r['z_chained']:+.1f} | {r['z_step_weighted']:+.1f} "
            f"| {r['z_iid']:+.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
