"""Training throughput of distill's modes: tokens/s of `seqkd` vs `online` (issue 6; goal: online >= 0.5x).

Run from the project root (nothing else heavy should run at the same time):

    .venv/bin/python benchmarks/bench_distill.py --quick              # CPU smoke: ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_distill.py                      # CPU numbers for benchmarks/README.md
    # GPU machine, after ../shared/tools/gpu-stage (teacher GGUF in ~/models, `gguf` in ~/site):
    PYTHONPATH=~/site python benchmarks/bench_distill.py --device cuda \
        --teacher ~/models/SmolLM2-135M-Instruct.Q4_1.gguf --out $OUT/bench_distill.json

Teacher: SmolLM2-135M-Instruct (`--teacher`: a model folder, a `.gguf` file, or by default the
offline alias converted in ~/.cache/tempdraft). Draft: its first 4 layers (`--draft-layers`).
Data: real GSM8K text (question + answer, tokenized and concatenated) cut into rows of exactly
`--prompt-len` + `--response-len` tokens, so every mode sees identical, padding-free batches.
Each mode runs `distill.step.optimizer_step` - the trainer's own step: forward(s), loss over response
positions, backward, AdamW - with the trainer's precision rule (bf16 autocast on GPU, fp32 on CPU
unless `--precision bf16`) and the trainer's live-teacher dtype (`--teacher-dtype`: bf16 on GPU,
fp32 on CPU). Modes run round-robin, batch by batch, so a shared machine's load hits them alike.
It prints a table and one JSON line (machine, load average, versions, settings, numbers); `--out`
also writes that JSON. Imports no pydantic/polars/datasets (the GPU machine lacks them).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from distill.models import autocast_dtype, first_n_layers, pick_device  # noqa: E402
from distill.step import Objective, optimizer_step  # noqa: E402

MODES = {
    "seqkd": Objective("seqkd"),
    "online-fkl": Objective("online", "fkl", temperature=1.0),
    "online-jsd": Objective("online", "jsd", beta=0.5, temperature=1.0),
}


def gsm8k_file() -> Path:
    for candidate in (
        ROOT.parent / "shared" / "data" / "gsm8k" / "train.jsonl",
        Path.home() / "data" / "gsm8k" / "train.jsonl",
    ):
        if candidate.is_file():
            return candidate
    raise SystemExit("GSM8K not found in ../shared/data or ~/data")


def load_teacher(spec: str | None, dtype: torch.dtype):
    """(model, tokenizer) from a folder, a .gguf file, or the offline alias."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec is None:
        from builders.teacher import resolve_teacher

        spec = resolve_teacher("smollm2-135m-instruct").path
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":  # the GPU machine has the GGUF and `gguf`, not the converted folder
        kwargs = {"gguf_file": path.name}
        path = path.parent
    else:
        kwargs = {}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs).eval()
    return model, AutoTokenizer.from_pretrained(path, **kwargs)


def make_batches(
    tokenizer, n_batches: int, batch_size: int, prompt_len: int, response_len: int
) -> list[dict]:
    """Rows of exactly prompt_len + response_len tokens of running GSM8K text; targets = the response part."""
    need = n_batches * batch_size * (prompt_len + response_len)
    stream: list[int] = []
    with gsm8k_file().open() as f:
        for line in f:
            record = json.loads(line)
            stream += tokenizer(record["question"] + "\n" + record["answer"] + "\n")["input_ids"]
            if len(stream) >= need:
                break
    width = prompt_len + response_len
    ids = torch.tensor(stream[:need]).view(n_batches, batch_size, width)
    target_mask = torch.zeros(batch_size, width, dtype=torch.bool)
    target_mask[:, prompt_len - 1 : width - 1] = True
    batches = []
    for b in range(n_batches):
        targets = torch.zeros_like(ids[b])
        targets[:, :-1] = ids[b, :, 1:]
        batches.append(
            {
                "input_ids": ids[b],
                "attention_mask": torch.ones_like(ids[b]),
                "target_mask": target_mask,
                "targets": targets,
                "temperature": torch.ones(batch_size),
            }
        )
    return batches


def bench_modes(
    names: list[str], teacher, initial_draft, vocab: int, batches: list[dict], warmup: int, device, amp
):
    """Round-robin: batch i goes through every mode back to back, so all modes see the same machine load
    (the CPU machines are shared); each mode has its own draft and optimizer, from the same weights."""
    cuda = device.type == "cuda"
    states = {}
    for name in names:
        draft = copy.deepcopy(initial_draft).to(device).train()
        states[name] = (draft, torch.optim.AdamW(draft.parameters(), lr=1e-4, fused=cuda))
    seconds, losses, peak = dict.fromkeys(names, 0.0), {}, dict.fromkeys(names, 0.0)
    for i, batch in enumerate(batches):
        for name in names:
            draft, optimizer = states[name]
            objective = MODES[name]
            live_teacher = teacher if objective.mode == "online" else None
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            losses[name] = optimizer_step(
                [batch], draft, live_teacher, objective, optimizer, vocab, device, amp, 1.0
            )
            if cuda:
                torch.cuda.synchronize()
                peak[name] = max(peak[name], (torch.cuda.max_memory_allocated() - resident) / 2**30)
            dt = time.perf_counter() - t0
            if i >= warmup:
                seconds[name] += dt
            tag = "warm-up" if i < warmup else "timed"
            print(
                f"[bench] batch {i + 1}/{len(batches)} {name}: {dt:.2f} s ({tag})",
                file=sys.stderr,
                flush=True,
            )
    timed = batches[warmup:]
    tokens = sum(b["input_ids"].numel() for b in timed)
    targets = sum(int(b["target_mask"].sum()) for b in timed)
    results = []
    for name in names:
        r = {
            "mode": name,
            "steps": len(timed),
            "seconds": round(seconds[name], 3),
            "tokens_per_s": round(tokens / seconds[name], 1),
            "target_tokens_per_s": round(targets / seconds[name], 1),
            "final_loss": round(losses[name], 4),
        }
        if cuda:
            r["step_peak_mem_gib"] = round(peak[name], 2)  # above the resident models and optimizer states
        results.append(r)
    return results


def machine(device) -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="the trainer's rule: auto = bf16 autocast on GPU, fp32 on CPU",
    )
    parser.add_argument(
        "--teacher", default=None, help="teacher folder or .gguf file (default: the offline alias)"
    )
    parser.add_argument(
        "--teacher-dtype",
        default="auto",
        choices=["auto", "bfloat16", "float32"],
        help="live teacher dtype, as the trainer's teacher.dtype (auto: bfloat16 on GPU, float32 on CPU)",
    )
    parser.add_argument("--draft-layers", type=int, default=4)
    parser.add_argument("--modes", default="seqkd,online-fkl,online-jsd")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="rows per step (default 4 on CPU, 32 on GPU)"
    )
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--response-len", type=int, default=256)
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps per mode (default 6 on CPU, 30 on GPU)"
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 timed steps, batch 2, 64 + 128 tokens"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 avoids OpenMP stalls on a busy machine)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    amp = autocast_dtype(args.precision, device)
    gpu = device.type == "cuda"
    batch_size = args.batch_size or (2 if args.quick else 32 if gpu else 4)
    steps = args.steps or (2 if args.quick else 30 if gpu else 6)
    prompt_len, response_len = (64, 128) if args.quick else (args.prompt_len, args.response_len)

    # As in the trainer: the draft copies the teacher's stored weights into fp32 master parameters
    # (bench_mode), and the live teacher runs inference only, in --teacher-dtype.
    teacher, tokenizer = load_teacher(args.teacher, torch.float32)
    teacher.requires_grad_(False)
    initial_draft = first_n_layers(teacher, args.draft_layers)
    teacher_dtype = args.teacher_dtype
    if teacher_dtype == "auto":
        teacher_dtype = "bfloat16" if device.type == "cuda" else "float32"
    teacher.to(device=device, dtype=getattr(torch, teacher_dtype))
    vocab = len(tokenizer)
    batches = make_batches(tokenizer, args.warmup + steps, batch_size, prompt_len, response_len)

    results = bench_modes(
        args.modes.split(","), teacher, initial_draft, vocab, batches, args.warmup, device, amp
    )
    by_mode = {r["mode"]: r for r in results}
    if "seqkd" in by_mode:
        for r in results:
            r["vs_seqkd"] = round(r["tokens_per_s"] / by_mode["seqkd"]["tokens_per_s"], 3)

    print(
        f"\n{device}: {'bf16 autocast' if amp else 'fp32'} draft, {teacher_dtype} teacher; "
        f"batch {batch_size} x ({prompt_len} prompt + {response_len} response) tokens; "
        f"{steps} timed steps after {args.warmup} warm-up\n"
    )
    print("| mode | tokens/s | response tokens/s | vs seqkd | s/step |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['tokens_per_s']:,.0f} | {r['target_tokens_per_s']:,.0f} | "
            f"{r.get('vs_seqkd', '-')} | {r['seconds'] / r['steps']:.3f} |"
        )
    record = {
        "bench": "distill",
        "machine": machine(device),
        "settings": {
            "device": str(device),
            "precision": "bf16" if amp else "fp32",
            "teacher_dtype": teacher_dtype,
            "batch_size": batch_size,
            "prompt_len": prompt_len,
            "response_len": response_len,
            "steps": steps,
            "warmup": args.warmup,
            "draft_layers": args.draft_layers,
            "quick": args.quick,
        },
        "results": results,
    }
    print(json.dumps(record))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
