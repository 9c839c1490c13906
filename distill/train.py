"""The training run: setup -> (resume) -> loop -> save draft + card. Called by `python -m distill train`.

    python -m distill train --config distill/configs/online_fkl.yaml --set run.output_dir=drafts/x [--resume]

Writes `<run.output_dir>/`: the draft (`save_pretrained`: config.json, model.safetensors,
generation_config.json), the teacher's tokenizer, `tempdraft-draft.json` + README.md (the card), and
`checkpoints/step_<N>.pt` (resumable: draft, optimizer, step, RNG).

The loop is nanoGPT-shaped on purpose: one optimizer step = `grad_accum` micro-batches; the loss of
a step is the mean over *all* its response tokens (each micro-batch's sum is divided by the step's
total), so batch 8 x accum 1 and batch 4 x accum 2 take the same step.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from builders.errors import TempdraftError
from distill import checkpoint, distributed  # distributed: issue 9 (torchrun)
from distill.card import CARD_FILE, build_card, write_card
from distill.checks import Setup
from distill.data import (
    TOPK_COLUMNS,
    TRAIN_COLUMNS,
    BatchOrder,
    Example,
    collate,
    make_examples,
    read_columns,
)
from distill.models import autocast_dtype, build_draft, load_teacher, pick_device
from distill.step import Objective, optimizer_step


def lr_at(step: int, total: int, optim: Any) -> float:
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return optim.lr
    progress = (step - optim.warmup_steps) / max(1, total - optim.warmup_steps)
    return optim.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))  # cosine down to 10%


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def load_examples(setup: Setup, files: list[Path], max_rows: int | None) -> list[Example]:
    columns = TRAIN_COLUMNS + (TOPK_COLUMNS if setup.config.loss.mode == "topk" else [])
    examples, dropped = make_examples(read_columns(files, columns, max_rows), setup.config.optim.max_length)
    if dropped:
        print(
            f"[distill] dropped {dropped} rows whose prompt leaves no room under max_length "
            f"{setup.config.optim.max_length}",
            file=sys.stderr,
        )
    if not examples:
        raise TempdraftError("no usable rows: every prompt is longer than optim.max_length")
    return examples


def _held_out(
    setup: Setup,
    draft: torch.nn.Module,
    teacher: torch.nn.Module,
    examples: list[Example],
    objective: Objective,
    vocab: int,
    pad_id: int,
) -> dict[str, Any]:
    from distill.acceptance import acceptance, mean_loss

    draft.eval()
    acc = {str(t): acceptance(teacher, draft, examples, t, vocab, pad_id) for t in setup.temperatures}
    loss = mean_loss(
        draft, teacher if objective.mode == "online" else None, examples, objective, vocab, pad_id
    )
    draft.train()
    return {"loss": loss, "acceptance": acc}


def train(setup: Setup, command: str, resume: bool = False) -> Path:
    cfg = setup.config
    out = Path(cfg.run.output_dir)
    if (out / CARD_FILE).is_file():
        raise TempdraftError(
            f"{out} already holds a trained draft; choose another run.output_dir or delete it"
        )
    saved = checkpoint.list_checkpoints(out)
    if saved and not resume:
        raise TempdraftError(
            f"{out} holds checkpoints of an earlier run: add --resume to continue it, or delete them"
        )
    if resume and not saved:
        raise TempdraftError(f"--resume: no checkpoint in {checkpoint.checkpoint_dir(out)}")

    # 1. Device, precision, tokenizer.
    from transformers import AutoTokenizer, GenerationConfig

    device = pick_device(cfg.run.device)
    ranks = distributed.init_from_torchrun(device)  # issue 9: None unless launched by torchrun
    device, main = (ranks.device, ranks.is_main) if ranks else (device, True)  # issue 9: rank 0 writes
    amp = autocast_dtype(cfg.run.precision, device)
    tokenizer = AutoTokenizer.from_pretrained(setup.teacher.path)
    vocab = len(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # 2. Models: the draft in fp32 (master weights); the teacher only when the mode or init needs it.
    derived = cfg.draft.init != "pretrained"
    online = cfg.loss.mode == "online"
    need_teacher = online or cfg.run.eval_split is not None
    # Derived drafts copy the teacher's weights as stored into their fp32 parameters; the live teacher
    # then runs inference only, in teacher.dtype.
    teacher = load_teacher(setup.teacher.path, torch.device("cpu")) if derived or need_teacher else None
    draft = build_draft(cfg.draft, teacher, cfg.run.seed)
    if draft.get_output_embeddings().weight.shape[0] < vocab:
        raise TempdraftError(
            f"the draft predicts {draft.get_output_embeddings().weight.shape[0]} tokens, "
            f"fewer than the teacher tokenizer's {vocab}"
        )
    draft.to(device).train()
    if need_teacher and teacher is not None:
        teacher.to(device=device, dtype=getattr(torch, cfg.teacher.resolved_dtype(device.type)))
    else:
        teacher = None  # derived drafts needed it only for their weights
    objective = Objective(cfg.loss.mode, cfg.loss.divergence, cfg.loss.beta, cfg.loss.resolved_temperature())
    parallel = distributed.wrap(draft, vocab, ranks, cfg) if ranks else None  # issue 9 (torchrun)
    if parallel is not None:  # issue 9: from here on `draft` runs through DDP/FSDP (distill/distributed.py)
        draft = parallel  # type: ignore[assignment]

    # 3. Data and schedule.
    examples = load_examples(setup, setup.files, cfg.dataset.max_rows)
    order = BatchOrder(len(examples), cfg.optim.batch_size, cfg.run.seed)
    accum = cfg.optim.grad_accum
    total = cfg.optim.max_steps or math.ceil(cfg.optim.epochs * order.per_epoch / accum)
    eval_examples = load_examples(setup, setup.eval_files, cfg.run.eval_rows) if setup.eval_files else []
    optimizer = torch.optim.AdamW(
        draft.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, fused=device.type == "cuda"
    )

    # 4. Resume, or score the untrained draft.
    start, history, tokens_seen, evals = 0, [], 0, {}
    config_record = cfg.model_dump(mode="json")
    if resume:
        state = checkpoint.load(saved[-1], draft, optimizer, config_record)
        start, history, tokens_seen, evals = state["step"], state["history"], state["tokens"], state["evals"]
        print(f"[distill] resumed from {saved[-1]} at step {start}/{total}", file=sys.stderr)
    elif eval_examples:
        evals["before"] = _held_out(setup, draft, teacher, eval_examples, objective, vocab, pad_id)
    print(
        f"[distill] {cfg.loss.mode} on {len(examples)} rows ({setup.temperatures}), {total} steps of "
        f"{order.batch_size}x{accum} rows on {device} ({'bf16 autocast' if amp else 'fp32'})",
        file=sys.stderr,
    )

    # 5. The loop.
    t_window, tok_window, window_start, t_run = time.perf_counter(), 0, start, time.perf_counter()
    for step in range(start, total):
        lr = lr_at(step, total, cfg.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro = [
            collate([examples[i] for i in distributed.shard(order.indices(step * accum + a), ranks)], pad_id)
            for a in range(accum)  # issue 9: shard = this rank's rows of the global micro-batch
        ]
        if parallel is not None:  # issue 9: exact token-mean gradient across ranks
            parallel.weigh(micro)
        step_loss = optimizer_step(
            micro, draft, teacher, objective, optimizer, vocab, device, amp, cfg.optim.grad_clip
        )
        tok_window += sum(int(b["attention_mask"].sum()) for b in micro)
        history.append(step_loss)

        done = step + 1
        if done % cfg.run.log_every == 0 or done == total:
            elapsed = time.perf_counter() - t_window
            eta = elapsed / (done - window_start) * (total - done)
            print(
                f"[distill] step {done}/{total} loss {step_loss:.4f} lr {lr:.2e} "
                f"tok/s {tok_window / max(elapsed, 1e-9):,.0f} eta {_fmt_time(eta)}",
                file=sys.stderr,
            )
            tokens_seen += tok_window
            t_window, tok_window, window_start = time.perf_counter(), 0, done
        if main and cfg.run.checkpoint_every and done % cfg.run.checkpoint_every == 0 and done < total:
            checkpoint.save(
                out,
                done,
                draft,
                optimizer,
                {
                    "history": history,
                    "tokens": tokens_seen + tok_window,
                    "evals": evals,
                    "config": config_record,
                },
                cfg.run.keep_checkpoints,
            )
    tokens_seen += tok_window
    seconds = time.perf_counter() - t_run

    # 6. Score, save the draft, write the card last (its presence marks a finished run).
    if eval_examples:
        evals["after"] = _held_out(setup, draft, teacher, eval_examples, objective, vocab, pad_id)
    draft.generation_config = GenerationConfig.from_model_config(draft.config)
    try:
        draft.generation_config = GenerationConfig.from_pretrained(
            setup.teacher.path
        )  # same EOS/pad as the teacher
    except OSError:
        pass
    draft.save_pretrained(out)  # under torchrun: rank 0 writes (distill/distributed.py)
    if main:  # issue 9
        tokenizer.save_pretrained(out)
    window = history[-min(len(history), cfg.run.log_every) :] or [float("nan")]
    result = {
        "training": {
            "steps": total,
            "examples": len(examples),
            "tokens": tokens_seen,
            "seconds": seconds,
            "device": str(device),
            "precision": "bf16" if amp else "fp32",
            "first_loss": history[0] if history else None,
            "final_loss": sum(window) / len(window),
            "loss_curve": history[:: max(1, len(history) // 50)],
        },
        "eval": evals or None,
    }
    card = build_card(
        name=cfg.run.name or out.resolve().name,
        setup=setup,
        draft_init=cfg.draft.model_dump(mode="json"),
        result=result,
        command=command,
    )
    if main:  # issue 9
        write_card(out, card)
        print(f"[distill] wrote {out} (final loss {result['training']['final_loss']:.4f})", file=sys.stderr)
    distributed.close(ranks)  # issue 9
    return out
