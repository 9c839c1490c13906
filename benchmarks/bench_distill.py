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

Data-parallel scaling: under `torchrun` (WORLD_SIZE > 1) every rank wraps its drafts as
`python -m distill train` does (`distill.distributed`: DDP, or FSDP with --parallel fsdp; NCCL
on GPUs, gloo on CPU), takes its rank-strided rows of each global batch and weighs its gradient; rank 0
reports global and per-GPU tokens/s (time = the slowest rank's). `--batch-size` is the global batch
(strong scaling) unless `--per-rank-batch` (weak scaling: W x batch rows per step). `--baseline` (a
one-process JSON) adds speedup and efficiency = tokens/s / (W x baseline tokens/s); `--summarize`
tabulates such JSONs side by side:

    for n in 1 2 4; do torchrun --standalone --nproc_per_node=$n benchmarks/bench_distill.py \
        --device cuda --teacher T --modes seqkd,online-fkl --baseline $OUT/strong1.json \
        --out $OUT/strong$n.json; done          # the n = 1 run ignores a missing baseline
    python benchmarks/bench_distill.py --summarize $OUT/*.json
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from distill import distributed  # noqa: E402
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
        from core.teacher import resolve_teacher

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
    # cycle: weak scaling on 4 GPUs asks for more tokens than GSM8K's train split holds
    for line in itertools.cycle(gsm8k_file().read_text().splitlines()):
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


def local_rows(batch: dict, ranks) -> dict:
    """This rank's rows of a global batch, by the trainer's rule (`distributed.shard`)."""
    if ranks is None:
        return batch
    rows = distributed.shard(list(range(len(batch["input_ids"]))), ranks)
    return {k: v[rows] for k, v in batch.items()}


def reduce_max(values: list[float], ranks) -> list[float]:
    """The slowest rank's time (the step waits for it) and the largest rank's memory."""
    if ranks is None:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ranks.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def bench_modes(
    names: list[str],
    teacher,
    initial_draft,
    vocab: int,
    batches: list[dict],
    warmup: int,
    device,
    amp,
    ranks=None,
    parallel: str = "ddp",
):
    """Round-robin: batch i goes through every mode back to back, so all modes see the same machine load
    (the CPU machines are shared); each mode has its own draft and optimizer, from the same weights.
    Under torchrun (`ranks`): each rank steps on its rows of every global batch, as the trainer does."""
    cuda = device.type == "cuda"
    main = ranks is None or ranks.is_main
    states = {}
    for name in names:
        draft = copy.deepcopy(initial_draft).to(device).train()
        if ranks is not None:  # as the trainer: wrap on the device, then build the optimizer (FSDP shards)
            draft = distributed.wrap(draft, vocab, ranks, parallel, len(batches[0]["input_ids"]))
        states[name] = (draft, torch.optim.AdamW(draft.parameters(), lr=1e-4, fused=cuda))
    seconds, losses, peak = dict.fromkeys(names, 0.0), {}, dict.fromkeys(names, 0.0)
    for i, batch in enumerate(batches):
        micro = [local_rows(batch, ranks)]
        for name in names:
            draft, optimizer = states[name]
            objective = MODES[name]
            live_teacher = teacher if objective.mode == "online" else None
            if cuda:
                torch.cuda.synchronize()
            if ranks is not None:  # every rank starts the step together: time = this step, not the wait
                dist.barrier()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            if ranks is not None:  # the trainer's per-step token weighting (an all-reduce): part of the step
                draft.weigh(micro)
            losses[name] = optimizer_step(
                micro, draft, live_teacher, objective, optimizer, vocab, device, amp, 1.0
            )
            if cuda:
                torch.cuda.synchronize()
                peak[name] = max(peak[name], (torch.cuda.max_memory_allocated() - resident) / 2**30)
            dt = time.perf_counter() - t0
            if i >= warmup:
                seconds[name] += dt
            tag = "warm-up" if i < warmup else "timed"
            if main:
                print(
                    f"[bench] batch {i + 1}/{len(batches)} {name}: {dt:.2f} s ({tag})",
                    file=sys.stderr,
                    flush=True,
                )
    if ranks is not None:
        seconds = dict(zip(names, reduce_max([seconds[n] for n in names], ranks), strict=True))
        peak = dict(zip(names, reduce_max([peak[n] for n in names], ranks), strict=True))
        # each rank's loss is over its own rows: the global token mean, as one process reports it
        n_local = float(micro[0]["target_mask"].sum())
        t = torch.tensor([[losses[n] * n_local, n_local] for n in names], device=ranks.device)
        dist.all_reduce(t)
        losses = {n: float(t[j, 0] / t[j, 1]) for j, n in enumerate(names)}
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
        if ranks is not None:
            r["tokens_per_s_per_gpu"] = round(  # one GPU per rank (on CPU: per process)
                tokens / seconds[name] / ranks.world, 1
            )
        results.append(r)
    return results


def scaling(result: dict, world: int, base: dict) -> dict:
    """Speedup over the one-process run, and efficiency = speedup / W (1.0 = linear)."""
    speedup = result["tokens_per_s"] / base["tokens_per_s"]
    return {"speedup": round(speedup, 3), "scaling_efficiency": round(speedup / world, 3)}


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


SAME = ("prompt_len", "response_len", "precision", "teacher_dtype", "draft_layers")


def comparable(settings: dict, parallel: dict, base_settings: dict) -> bool:
    """Is `base` the one-process run to compare with: same global batch (strong scaling) or a batch of
    one rank's rows (weak scaling), same row shape and precision?"""
    world = parallel["world"]
    batch = settings["batch_size"] // world if parallel["scaling"] == "weak" else settings["batch_size"]
    return base_settings["batch_size"] == batch and all(settings[k] == base_settings[k] for k in SAME)


ONE = {"world": 1, "backend": "-", "mode": "-", "scaling": "1 process"}  # JSONs without a "parallel" block


def summarize(paths: list[Path]) -> None:
    """One table of several runs' JSONs (1, 2, 4 GPUs ...), speedup and efficiency against the matching
    one-process run among them."""
    runs = [json.loads(p.read_text()) for p in paths]
    runs.sort(key=lambda rec: [rec.get("parallel", ONE)[k] for k in ("scaling", "mode", "world")])
    print(
        "strong = same global batch for every W (more GPUs, shorter step); weak = same rows per GPU "
        "(global batch grows with W). efficiency = tokens/s / (W x one-process tokens/s)\n"
    )
    print(
        "| scaling | GPUs | backend | wrap | mode | global batch | rows/GPU | tokens/s | tokens/s per GPU "
        "| speedup | efficiency | s/step | final loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rec in runs:
        par, settings = rec.get("parallel", ONE), rec["settings"]
        bases = [b for b in runs if "parallel" not in b and comparable(settings, par, b["settings"])]
        base = {r["mode"]: r for r in bases[0]["results"]} if bases else {}
        for r in rec["results"]:
            s = scaling(r, par["world"], base[r["mode"]]) if r["mode"] in base else {}
            print(
                f"| {par['scaling']} | {par['world']} | {par['backend']} | {par['mode']} | {r['mode']} "
                f"| {settings['batch_size']} | {settings['batch_size'] / par['world']:g} "
                f"| {r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / par['world']:,.0f} "
                f"| {s.get('speedup', '-')} | {s.get('scaling_efficiency', '-')} "
                f"| {r['seconds'] / r['steps']:.3f} | {r['final_loss']} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--parallel", default="ddp", choices=["ddp", "fsdp"], help="under torchrun: as distill's run.parallel"
    )
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
        "--per-rank-batch",
        action="store_true",
        help="under torchrun: --batch-size rows per rank (weak scaling); default: global (strong)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="under torchrun: a one-process run's JSON; adds speedup and scaling_efficiency",
    )
    parser.add_argument(
        "--summarize", type=Path, nargs="+", help="print one scaling table of these JSONs and exit"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 avoids OpenMP stalls on a busy machine)",
    )
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    ranks = distributed.init_from_torchrun(device)  # None unless torchrun started > 1 process
    if ranks is not None:
        device = ranks.device  # cuda:LOCAL_RANK
    amp = autocast_dtype(args.precision, device)
    gpu = device.type == "cuda"
    batch_size = args.batch_size or (2 if args.quick else 32 if gpu else 4)
    if ranks is not None and args.per_rank_batch:
        batch_size *= ranks.world  # batches stay global: each rank still takes its rows of them
    steps = args.steps or (2 if args.quick else 30 if gpu else 6)
    prompt_len, response_len = (64, 128) if args.quick else (args.prompt_len, args.response_len)

    # As in the trainer: the draft copies the teacher's stored weights into fp32 master parameters
    # (bench_mode), and the live teacher runs inference only, in --teacher-dtype.
    teacher, tokenizer = load_teacher(args.teacher, torch.float32)
    teacher.requires_grad_(False)
    initial_draft = first_n_layers(teacher, args.draft_layers, torch.float32)
    teacher_dtype = args.teacher_dtype
    if teacher_dtype == "auto":
        teacher_dtype = "bfloat16" if device.type == "cuda" else "float32"
    teacher.to(device=device, dtype=getattr(torch, teacher_dtype))
    vocab = len(tokenizer)
    batches = make_batches(tokenizer, args.warmup + steps, batch_size, prompt_len, response_len)

    results = bench_modes(
        args.modes.split(","),
        teacher,
        initial_draft,
        vocab,
        batches,
        args.warmup,
        device,
        amp,
        ranks,
        args.parallel,
    )
    backend = dist.get_backend() if ranks is not None else None
    distributed.close(ranks)
    if ranks is not None and not ranks.is_main:
        return  # rank 0 reports for all
    by_mode = {r["mode"]: r for r in results}
    if "seqkd" in by_mode:
        for r in results:
            r["vs_seqkd"] = round(r["tokens_per_s"] / by_mode["seqkd"]["tokens_per_s"], 3)

    print(
        f"\n{device}: {'bf16 autocast' if amp else 'fp32'} draft, {teacher_dtype} teacher; "
        f"batch {batch_size} x ({prompt_len} prompt + {response_len} response) tokens; "
        f"{steps} timed steps after {args.warmup} warm-up"
    )
    if ranks is not None:
        print(
            f"torchrun: {ranks.world} ranks, {args.parallel} over {backend}, "
            f"{'weak' if args.per_rank_batch else 'strong'} scaling: "
            f"{batch_size / ranks.world:g} rows per rank"
        )
    print()
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
    if ranks is not None:
        record["parallel"] = {
            "world": ranks.world,
            "backend": backend,
            "mode": args.parallel,
            "scaling": "weak" if args.per_rank_batch else "strong",
        }
        if args.baseline:
            base = json.loads(args.baseline.read_text())
            if "parallel" in base or not comparable(record["settings"], record["parallel"], base["settings"]):
                print(f"[bench] {args.baseline} is not this run's one-process baseline", file=sys.stderr)
            else:
                by_mode = {r["mode"]: r for r in base["results"]}
                for r in results:
                    if r["mode"] in by_mode:
                        r.update(scaling(r, ranks.world, by_mode[r["mode"]]))
    print(json.dumps(record))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
