"""Speculative decoding on the SmolLM2 teacher with two layer-truncated drafts (issue 7).

    .venv/bin/python benchmarks/bench_specdec.py --quick                 # CPU, ~4 prompts × 32 tokens
    python benchmarks/bench_specdec.py --device cuda --teacher PATH      # GPU machine (teacher staged)
    python benchmarks/bench_specdec.py --device cuda --cache static --compile   # + CUDA graphs

Target: SmolLM2-135M-Instruct (`--teacher` folder, default: the offline alias converted in
~/.cache/tempdraft). Drafts: its first 2 and first 4 decoder layers with copied weights and the same
embeddings/lm_head (untrained, so α is modest — the point is to check the sampler and the cost model).
For each decoding temperature (0, 0.5, 1) and k = 4, on the same chat-templated GSM8K prompts:
  - the target alone (our KV-cached loop) and the speculative sampler: empirical α, acceptance rate,
    tokens per target call, cost ratio c, decode-phase speedup, the cost-model prediction from the
    measured α and c, and their ratio (goal ≥ 0.9);
  - transformers `generate` alone and with assisted generation (constant k, pure temperature sampling);
  - the analytic α from one teacher-forced pass over the target-alone outputs (fresh teacher samples
    at T), its distance to the empirical α (goal ±0.02) and how much faster it is (goal ≥ 20×).
Writes JSON (machine, versions, load, exact command, every number) to --out and prints a Markdown table.
Runs are interleaved per prompt (target alone, each draft, transformers) so every ratio compares
measurements taken under the same load on a shared machine. Weights are bf16 on GPUs and fp32 on CPUs
without native bf16 (emulated bf16 made prefill 5× slower on the project's AVX2 box).

Needs only torch, transformers and numpy-free Python (matplotlib optional): no pydantic/polars/datasets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

import torch  # noqa: E402

from core.hardware import resolve_dtype  # noqa: E402
from core.provenance import recorded_command  # noqa: E402
from distill.models import first_n_layers  # noqa: E402
from evaluate.analytic import analytic_alpha  # noqa: E402
from evaluate.baselines import HFRun, hf_generate  # noqa: E402
from evaluate.costmodel import predicted_speedup  # noqa: E402
from evaluate.costprobe import probe_step_costs  # noqa: E402
from evaluate.env import environment  # noqa: E402
from evaluate.metrics import speculative_summary, target_alone_summary  # noqa: E402
from evaluate.report import json_safe  # noqa: E402
from evaluate.runs import stop_token_ids  # noqa: E402
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder  # noqa: E402

# Used only when no GSM8K file is beside the checkout (e.g. a bare GPU machine).
FALLBACK_PROMPTS = [
    "A baker makes 24 muffins and sells 3 boxes of 6. How many muffins are left?",
    "Tom reads 12 pages a day. How many days does he need for a 180-page book?",
    "A train travels 60 km per hour for 2.5 hours. How far does it go?",
    "Sara has $50. She buys 3 books at $12 each. How much money does she have left?",
    "Explain in two sentences why the sky looks blue.",
    "Write a short poem about a cat watching the rain.",
    "A garden has 7 rows of 9 tulips. Half of them are red. How many red tulips are there?",
    "List three tips for staying focused while studying.",
]


def load_prompts(tokenizer, n: int, path: str | None) -> tuple[list[list[int]], str]:
    candidates = (
        [Path(path)]
        if path
        else [REPO.parent / "shared/data/gsm8k/test.jsonl", REPO / "shared/data/gsm8k/test.jsonl"]
    )
    texts, source = FALLBACK_PROMPTS, "built-in prompts"
    for file in candidates:
        if file.is_file():
            rows = [json.loads(x) for x in file.read_text().splitlines() if x.strip()]
            texts = [r.get("question") or r.get("prompt") for r in rows]
            source = str(file)
            break
    texts = (texts * (n // len(texts) + 1))[:n]
    ids = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in texts
    ]
    return ids, source


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="4 prompts × 32 new tokens (default 16 × 128)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="auto: bfloat16 on GPUs and bf16-capable CPUs, else float32",
    )
    p.add_argument("--teacher", default=None, help="target folder (default: smollm2-135m-instruct alias)")
    p.add_argument("--draft-layers", default="2,4", help="comma-separated depths of the truncated drafts")
    p.add_argument("--temperatures", default="0,0.5,1")
    p.add_argument("--k", type=int, default=4)
    add_decode_args(p)
    p.add_argument(
        "--no-assisted", action="store_true", help="skip transformers generate / assisted generation"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON path (default runs/bench_specdec/<device>-<time>.json)")
    args = p.parse_args(argv)
    args.num_prompts = args.num_prompts or (4 if args.quick else 16)
    args.max_new_tokens = args.max_new_tokens or (32 if args.quick else 128)
    if args.compile and args.cache != "static":
        p.error("--compile needs --cache static")
    return args


def add_decode_args(p) -> None:
    """Prompt, size, thread and decoder-mode flags shared by this benchmark and bench_chained.py."""
    p.add_argument("--num-prompts", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--prompts", default=None, help="JSONL with a question/prompt field (default: GSM8K test)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--cache", default="dynamic", choices=["dynamic", "static"])
    p.add_argument(
        "--compile", action="store_true", help="torch.compile decode forwards (needs --cache static)"
    )


def common_setup(args) -> str:
    """Threads, device and teacher path shared by this benchmark and bench_chained.py; returns the device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.teacher is None:
        from core.teacher import resolve_teacher  # converts the GGUF once (needs network + gguf)

        args.teacher = resolve_teacher("smollm2-135m-instruct").path
    return ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device


def main(argv: list[str] | None = None) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    args = parse_args(argv)
    device = common_setup(args)
    temps = [float(x) for x in args.temperatures.split(",")]
    args.dtype = resolve_dtype(args.dtype, device)
    started = time.time()

    # 1. Models and prompts.
    tokenizer = AutoTokenizer.from_pretrained(args.teacher)
    target = AutoModelForCausalLM.from_pretrained(args.teacher, dtype=getattr(torch, args.dtype))
    target = target.to(torch.device(device)).eval()
    drafts = {f"first{n}": first_n_layers(target, int(n)) for n in args.draft_layers.split(",")}
    prompts, prompt_source = load_prompts(tokenizer, args.num_prompts, args.prompts)
    eos = stop_token_ids(tokenizer, target)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    max_len = max(map(len, prompts)) + args.max_new_tokens + args.k + 2
    out: dict = {
        "command": recorded_command("python benchmarks/bench_specdec.py", sys.argv[1:]),
        "machine": environment(device),
        "settings": {
            **vars(args),
            "temperatures": temps,
            "prompt_source": prompt_source,
            "mean_prompt_tokens": sum(map(len, prompts)) / len(prompts),
        },
        "target_alone": {},
        "drafts": {},
    }

    # 2. Per temperature, interleaved per prompt: target alone, then each draft's sampler, then the
    # transformers runs. On a shared machine the load drifts over minutes; pairing the runs of one
    # prompt keeps every ratio (speedup, c) between measurements taken under the same load.
    alone_dec = AutoregressiveDecoder(target, eos, args.cache, max_len, args.compile)
    specs = {
        n: SpeculativeDecoder(target, d, args.k, eos, args.cache, max_len, args.compile)
        for n, d in drafts.items()
    }
    probes = {
        n: probe_step_costs(target, d, prompts[0], steps=16, cache=args.cache) for n, d in drafts.items()
    }
    hf_on = not args.no_assisted
    cells: dict[str, dict[str, dict]] = {n: {} for n in drafts}
    for t in temps:
        warm = min(args.max_new_tokens, 2 * args.k + 2)
        for dec in [alone_dec, *specs.values()]:
            dec.generate(prompts[0], warm, t, torch.Generator(device=device).manual_seed(args.seed - 1))
        alone: list[Generation] = []
        spec_gens: dict[str, list[Generation]] = {n: [] for n in drafts}
        hf_alone, hf_assist = HFRun(0, 0.0), {n: HFRun(0, 0.0) for n in drafts}
        if hf_on:
            for assistant in [None, *drafts.values()]:
                hf_generate(target, prompts[:1], 4, t, args.seed, eos, pad, assistant=assistant, k=args.k)
        for i, prompt in enumerate(prompts):

            def rng(i: int = i) -> torch.Generator:
                return torch.Generator(device=device).manual_seed(args.seed + i)

            alone.append(alone_dec.generate(prompt, args.max_new_tokens, t, rng()))
            for n, dec in specs.items():
                spec_gens[n].append(dec.generate(prompt, args.max_new_tokens, t, rng()))
            if hf_on:
                hf_alone += hf_generate(target, [prompt], args.max_new_tokens, t, args.seed + i, eos, pad)
                for n, d in drafts.items():
                    hf_assist[n] += hf_generate(
                        target,
                        [prompt],
                        args.max_new_tokens,
                        t,
                        args.seed + i,
                        eos,
                        pad,
                        assistant=d,
                        k=args.k,
                    )
            done = sum(len(g.tokens) for g in alone)
            print(
                f"[bench] T={t:g}: prompt {i + 1}/{len(prompts)}, target alone {done} tokens, "
                f"{time.time() - started:.0f} s elapsed",
                file=sys.stderr,
                flush=True,
            )
        alone_row = target_alone_summary(alone)
        if hf_on:
            alone_row["transformers_generate"] = hf_alone.to_dict()
        out["target_alone"][f"{t:g}"] = alone_row

        # 3. Per draft: metrics, the analytic α on the target-alone outputs (fresh teacher samples at T).
        for n, gens in spec_gens.items():
            cell = {"temperature": t, **speculative_summary(gens, alone, args.k)}
            if t == 0:  # lossless at T=0 means identical text (bf16 batch-shape noise can flip near-ties)
                same = sum(g.tokens == a.tokens for g, a in zip(gens, alone, strict=True))
                cell["greedy_identical_prompts"] = f"{same}/{len(gens)}"
            an = analytic_alpha(
                target, drafts[n], [(p, a.tokens) for p, a in zip(prompts, alone, strict=True)], t
            )
            sampler_s = sum(g.prefill_s + g.decode_s for g in gens)
            cell["analytic"] = {
                "alpha": an.alpha,
                "positions": an.positions,
                "seconds": an.seconds,
                "abs_diff_vs_empirical": abs(an.alpha - cell["alpha"]),
                "predicted_speedup_probe_c": predicted_speedup(an.alpha, args.k, probes[n]["c"]),
                "sampler_seconds": sampler_s,
                "time_ratio": sampler_s / an.seconds,
                "time_ratio_per_position": (sampler_s / max(cell["alpha_positions"], 1))
                / (an.seconds / an.positions),
            }
            if hf_on:
                cell["assisted"] = {
                    **hf_assist[n].to_dict(),
                    "speedup_vs_transformers_generate": hf_alone.seconds
                    / hf_alone.tokens
                    / (hf_assist[n].seconds / hf_assist[n].tokens),
                }
            cells[n][f"{t:g}"] = cell
    for n, d in drafts.items():
        out["drafts"][n] = {
            "num_layers": d.config.num_hidden_layers,
            "cost_probe": probes[n],
            "results": cells[n],
        }

    out["wall_s"] = time.time() - started
    out["machine"]["load_average_at_end"] = list(os.getloadavg())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(args.out) if args.out else REPO / "runs" / "bench_specdec" / f"{device}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(out), indent=2, default=str))
    print(table(out))
    print(f"\nwrote {path}", file=sys.stderr)
    return out


def _f(x, fmt=".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def table(out: dict) -> str:
    m = out["machine"]
    lines = [
        f"{m['device_name']} ({m['device']}, {m['torch_threads']} threads, load "
        f"{'/'.join(f'{x:.1f}' for x in m['load_average_1m_5m_15m'] or [])} at start); "
        f"torch {m['versions']['torch']}, transformers {m['versions']['transformers']}",
        "",
        "| draft | T | α emp | α analytic | \\|Δα\\| | tokens/call | c | verify cost | target ms/tok "
        "| spec ms/tok | speedup | predicted | emp/pred | pred. w/ verify | e2e speedup | assisted e2e "
        "| analytic faster |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in out["drafts"].items():
        for key, r in d["results"].items():
            an, hf = r["analytic"], r.get("assisted", {})
            cols = [
                name,
                key,
                _f(r["alpha"], ".3f"),
                _f(an["alpha"], ".3f"),
                _f(an["abs_diff_vs_empirical"], ".3f"),
                _f(r["block_efficiency"]),
                _f(r["c"], ".3f"),
                _f(r["verify_cost"]),
                _f(1e3 * r["target_s_per_token"], ".1f"),
                _f(1e3 * r["s_per_token"], ".1f"),
                _f(r["speedup"]) + "×",
                _f(r["predicted_speedup"]) + "×",
                _f(r["empirical_over_predicted"]),
                _f(r["predicted_speedup_with_verify_cost"]) + "×",
                _f(r["speedup_e2e"]) + "×",
                _f(hf.get("speedup_vs_transformers_generate")) + "×",
                _f(an["time_ratio_per_position"], ".0f") + "×",
            ]
            lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
