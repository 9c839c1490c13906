"""The training run: prepare -> (resume) -> loop -> keep the best -> save draft + card.

    python -m distill train distill/configs/online_fkl.yaml --set run.output_dir=drafts/x [--resume]

Programmatic use (the same path): `train(check(parse_config(data)), command)` returns the output folder.

Writes `<run.output_dir>/`: the draft (`save_pretrained` in `run.save_dtype`: config.json,
model.safetensors, generation_config.json), the teacher's tokenizer, `tempdraft-draft.json` + README.md
(the card), `learning_curve.png` (held-out alpha per temperature and loss vs step, when `run.eval_split`
is set) and `checkpoints/step_<N>.pt` (resumable: draft, optimizer, step, RNG, curve, best weights).

The loop is nanoGPT-shaped on purpose: one optimizer step = `grad_accum` micro-batches; the loss of
a step is the mean over *all* its response tokens (each micro-batch's sum is divided by the step's
total), so batch 8 x accum 1 and batch 4 x accum 2 take the same step. Held-out evaluations, early
stopping and the still-improving verdict are `distill.convergence`'s.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.errors import TempdraftError
from distill import checkpoint, distributed  # distributed: under torchrun
from distill.acceptance import HeldOut
from distill.card import CARD_FILE, build_card, write_card
from distill.checks import Setup
from distill.config import DistillConfig
from distill.convergence import Rule, copy_state, describe, still_improving
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
from distill.plot import PLOT_FILE, card_title, plot_learning_curve
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


def _say(message: str) -> None:
    print(f"[distill] {message}", file=sys.stderr)


def load_examples(setup: Setup, files: list[Path], max_rows: int | None) -> list[Example]:
    columns = TRAIN_COLUMNS + (TOPK_COLUMNS if setup.config.loss.mode == "topk" else [])
    examples, dropped = make_examples(read_columns(files, columns, max_rows), setup.config.optim.max_length)
    if dropped:
        _say(f"dropped {dropped} rows whose prompt leaves no room under optim.max_length")
    if not examples:
        raise TempdraftError("no usable rows: every prompt is longer than optim.max_length")
    return examples


@dataclass
class Run:
    """What the loop works with; built once by `prepare`."""

    cfg: DistillConfig
    setup: Setup
    out: Path
    device: torch.device
    ranks: Any  # distributed.Ranks under torchrun, else None
    main: bool  # this process writes the outputs
    amp: torch.dtype | None
    tokenizer: Any
    vocab: int
    pad_id: int
    draft: Any  # the fp32 draft, or its distributed.ParallelDraft under torchrun
    teacher: torch.nn.Module | None
    parallel: Any  # distributed.ParallelDraft or None
    objective: Objective
    optimizer: torch.optim.Optimizer
    examples: list[Example]
    order: BatchOrder
    total: int  # the step budget
    held_out: HeldOut | None  # run.eval_split's rows, with the teacher's side computed once
    eval_temperatures: list[float]  # the data's generation temperatures (+ early stopping's, if another)
    rule: Rule  # early stopping's, or convergence.DEFAULT_RULE for the still-improving verdict


@dataclass
class Progress:
    """What a checkpoint carries besides weights, optimizer and RNG; all of it survives --resume."""

    step: int = 0
    history: list[float] = field(default_factory=list)  # training loss of every step
    tokens: int = 0
    curve: list[dict[str, Any]] = field(default_factory=list)  # held-out evaluations
    best_state: dict[str, torch.Tensor] | None = None  # early stopping: weights of the best evaluation
    stopped_early: bool = False

    def state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("history", "tokens", "curve", "best_state")}

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Progress:
        curve, best = saved.get("curve", []), saved.get("best_state")  # absent in older checkpoints
        return cls(saved["step"], saved["history"], saved["tokens"], curve, best)


def train(setup: Setup, command: str, resume: bool = False) -> Path:
    """Train the draft `setup` describes; returns its output folder."""
    out = Path(setup.config.run.output_dir)
    saved = _previous_checkpoints(out, resume)
    run = prepare(setup, out)  # 1-3
    progress = _start(run, saved[-1] if resume else None)  # 4
    t_run = time.perf_counter()
    window = _loop(run, progress)  # 5
    _finish(run, progress, command, window, time.perf_counter() - t_run)  # 6
    distributed.close(run.ranks)  # under torchrun: wait for rank 0's writes, leave the group
    return out


def _previous_checkpoints(out: Path, resume: bool) -> list[Path]:
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
    return saved


def _models(cfg: DistillConfig, setup: Setup, device: torch.device, vocab: int) -> tuple[Any, Any]:
    """The fp32 draft (master weights) on `device`; the teacher only when the mode or scoring needs it."""
    derived = cfg.draft.init != "pretrained"
    need_teacher = cfg.loss.mode == "online" or cfg.run.eval_split is not None
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
    return draft, teacher


def prepare(setup: Setup, out: Path) -> Run:
    """Steps 1-3: device, models, data and schedule."""
    from transformers import AutoTokenizer

    cfg = setup.config
    # 1. Device, precision, tokenizer.
    device = pick_device(cfg.run.device)
    ranks = distributed.init_from_torchrun(device)  # None unless launched by torchrun
    device, main = (ranks.device, ranks.is_main) if ranks else (device, True)  # rank 0 writes
    tokenizer = AutoTokenizer.from_pretrained(setup.teacher.path)
    vocab = len(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # 2. Models; under torchrun the draft runs through DDP/FSDP from here on (distill/distributed.py).
    draft, teacher = _models(cfg, setup, device, vocab)
    parallel = (
        distributed.wrap(draft, vocab, ranks, cfg.run.parallel, cfg.optim.batch_size) if ranks else None
    )
    objective = Objective(cfg.loss.mode, cfg.loss.divergence, cfg.loss.beta, cfg.loss.resolved_temperature())

    # 3. Data and schedule.
    examples = load_examples(setup, setup.files, cfg.dataset.max_rows)
    order = BatchOrder(len(examples), cfg.optim.batch_size, cfg.run.seed)
    total = cfg.optim.max_steps or math.ceil(cfg.optim.epochs * order.per_epoch / cfg.optim.grad_accum)
    held = None
    if setup.eval_files and teacher is not None:  # the teacher is loaded whenever run.eval_split is set
        held = HeldOut(teacher, load_examples(setup, setup.eval_files, cfg.run.eval_rows), vocab, pad_id)
    stopping = cfg.run.early_stopping
    extra = [stopping.temperature] if stopping and stopping.temperature is not None else []
    optimizer = torch.optim.AdamW(
        draft.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, fused=device.type == "cuda"
    )
    return Run(
        cfg, setup, out, device, ranks, main, autocast_dtype(cfg.run.precision, device), tokenizer, vocab,
        pad_id, parallel or draft, teacher, parallel, objective, optimizer, examples, order, total,
        held, sorted(set(setup.temperatures) | set(extra)), Rule.of(stopping),
    )  # fmt: skip


def _start(run: Run, path: Path | None) -> Progress:
    """Step 4: resume from a checkpoint, or score the untrained draft (the learning curve's step 0)."""
    mode, order = run.cfg.loss.mode, run.order
    _say(
        f"{mode} on {len(run.examples)} rows ({run.setup.temperatures}), {run.total} steps of "
        f"{order.batch_size}x{run.cfg.optim.grad_accum} rows on {run.device} "
        f"({'bf16 autocast' if run.amp else 'fp32'})"
    )
    if path is not None:
        saved = checkpoint.load(path, run.draft, run.optimizer, run.cfg.model_dump(mode="json"))
        progress = Progress.restore(saved)
        _say(f"resumed from {path} at step {progress.step}/{run.total}")
    else:
        progress = Progress()
        if run.held_out is not None:
            _evaluate(run, progress, 0)
    return progress


def _evaluate(run: Run, progress: Progress, step: int) -> None:
    """Score the held-out rows into the curve; keep the best weights; decide on early stopping."""
    assert run.held_out is not None
    entry = {"step": step, **run.held_out.score(run.draft, run.eval_temperatures, run.objective)}
    run.draft.train()
    progress.curve.append(entry)
    temps, stopping = run.setup.temperatures, run.cfg.run.early_stopping
    best = run.rule.best_index(progress.curve, temps) == len(progress.curve) - 1
    if stopping is not None and best:
        progress.best_state = copy_state(run.draft)  # in memory; checkpoints carry it for --resume
    _say(f"eval step {step}: {describe(entry)}{' (best)' if best else ''}")
    if stopping is not None and run.rule.should_stop(progress.curve, temps):
        progress.stopped_early = True
        _say(
            f"early stop at step {step}: held-out {stopping.metric} did not improve by more than "
            f"{stopping.min_delta} in {stopping.patience} evaluations"
        )


def _loop(run: Run, progress: Progress) -> tuple[int, int]:
    """Step 5: optimizer steps from progress.step up to the budget, or until early stopping ends it.

    Returns the steps (first, last) whose mean training loss the last progress line printed."""
    cfg, accum = run.cfg, run.cfg.optim.grad_accum
    t_window, tok_window, window_start = time.perf_counter(), 0, progress.step
    last_window = (progress.step, progress.step)
    for step in range(progress.step, run.total):
        # a. The learning rate of this step.
        lr = lr_at(step, run.total, cfg.optim)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        # b. One optimizer step over grad_accum micro-batches (torchrun: shard = this rank's rows of each).
        rows = [distributed.shard(run.order.indices(step * accum + a), run.ranks) for a in range(accum)]
        micro = [collate([run.examples[i] for i in r], run.pad_id) for r in rows]
        if run.parallel is not None:  # exact token-mean gradient across ranks
            run.parallel.weigh(micro)
        step_loss = optimizer_step(
            micro, run.draft, run.teacher, run.objective, run.optimizer, run.vocab, run.device, run.amp,
            cfg.optim.grad_clip,
        )  # fmt: skip
        tokens = sum(int(b["attention_mask"].sum()) for b in micro)
        progress.history.append(step_loss)
        progress.tokens, tok_window, progress.step = progress.tokens + tokens, tok_window + tokens, step + 1
        done = progress.step

        # c. Held-out evaluation every eval_every steps and at the budget; early stopping may end the loop.
        every = cfg.run.eval_every
        if run.held_out is not None and (done == run.total or (every and done % every == 0)):
            t_eval = time.perf_counter()
            _evaluate(run, progress, done)
            t_window += time.perf_counter() - t_eval  # tok/s and ETA count training time only

        # d. Progress line: the mean training loss since the last one (the last is the card's final_loss).
        if done % cfg.run.log_every == 0 or done == run.total or progress.stopped_early:
            elapsed = time.perf_counter() - t_window
            eta = elapsed / (done - window_start) * (run.total - done)
            _say(
                f"step {done}/{run.total} train loss {_mean(progress.history[window_start:done]):.4f} "
                f"(mean of steps {window_start + 1}-{done}) lr {lr:.2e} "
                f"tok/s {tok_window / max(elapsed, 1e-9):,.0f} eta {_fmt_time(eta)}"
            )
            t_window, tok_window, last_window = time.perf_counter(), 0, (window_start + 1, done)
            window_start = done
        if progress.stopped_early:
            break

        # e. Checkpoint (resumable; the finished draft is saved by step 6 either way).
        every = cfg.run.checkpoint_every
        if run.main and every and done % every == 0 and done < run.total:
            checkpoint.save(
                run.out, done, run.draft, run.optimizer,
                {**progress.state(), "config": cfg.model_dump(mode="json")}, cfg.run.keep_checkpoints,
            )  # fmt: skip
    return last_window


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _keep_best(run: Run, progress: Progress) -> dict[str, Any]:
    """With early stopping, keep the best evaluation's weights (also at the budget); the card's record."""
    stopping, temps = run.cfg.run.early_stopping, run.setup.temperatures
    if not progress.curve:
        return {"stopped_early": False, "best_step": None, "weights_step": progress.step,
                "still_improving": None}  # fmt: skip
    best = progress.curve[run.rule.best_index(progress.curve, temps)]
    kept = progress.curve[-1]
    if stopping is not None and best is not kept:
        assert progress.best_state is not None  # recorded by _evaluate with the best evaluation
        run.draft.load_state_dict(progress.best_state)
        kept = best
        _say(f"restored the weights of step {best['step']}, the best held-out {stopping.metric}")
    verdict = still_improving(
        progress.curve, run.rule, temps, progress.stopped_early, tracked=run.cfg.run.eval_every is not None
    )
    if verdict:
        watched = f"{run.rule.metric} (min_delta {run.rule.min_delta})" if stopping else "loss"
        _say(
            f"WARNING: still improving at the step budget: held-out {watched} was best at step "
            f"{best['step']} of {progress.step}, within the last {run.rule.patience} evaluation(s); "
            "the draft has not converged - raise optim.max_steps (or optim.epochs)"
        )
    return {
        "before": progress.curve[0],
        "after": kept,  # the held-out score of the weights that are saved (before the cast to save_dtype)
        "stopped_early": progress.stopped_early,
        "best_step": best["step"],
        "weights_step": kept["step"],
        "still_improving": verdict,
    }


def save_dtype(run: Run) -> torch.dtype:
    """run.save_dtype, where auto = the dtype the teacher's checkpoint declares (what a server loads)."""
    if run.cfg.run.save_dtype != "auto":
        return getattr(torch, run.cfg.run.save_dtype)
    from transformers import AutoConfig

    declared = getattr(AutoConfig.from_pretrained(run.setup.teacher.path), "dtype", None)
    if isinstance(declared, str):
        declared = getattr(torch, declared, None)
    return declared if isinstance(declared, torch.dtype) else torch.float32


def _save_draft(run: Run) -> torch.dtype:
    from transformers import GenerationConfig

    draft = run.draft
    draft.generation_config = GenerationConfig.from_model_config(draft.config)
    try:  # same EOS/pad as the teacher
        draft.generation_config = GenerationConfig.from_pretrained(run.setup.teacher.path)
    except OSError:
        pass
    dtype = save_dtype(run)
    if run.parallel is not None:  # rank 0 writes (distill/distributed.py)
        run.parallel.save_pretrained(run.out, dtype=dtype)
    else:
        draft.to(dtype).save_pretrained(run.out)  # training is over: the fp32 master copy is not needed
    if run.main:  # under torchrun only rank 0 writes
        run.tokenizer.save_pretrained(run.out)
    return dtype


def _finish(run: Run, progress: Progress, command: str, window: tuple[int, int], seconds: float) -> None:
    """Step 6: keep the best weights, save the draft, plot the curve, write the card last."""
    cfg, out = run.cfg, run.out
    converged = _keep_best(run, progress)
    before, after = converged.pop("before", None), converged.pop("after", None)
    dtype = _save_draft(run)
    history = progress.history
    final_loss = _mean(history[window[0] - 1 : window[1]])
    result = {
        "training": {
            "steps": progress.step,
            "max_steps": run.total,
            **converged,
            "examples": len(run.examples),
            "tokens": progress.tokens,
            "seconds": seconds,
            "device": str(run.device),
            "precision": "bf16" if run.amp else "fp32",
            "save_dtype": str(dtype).removeprefix("torch."),
            "first_loss": history[0] if history else None,
            "final_loss": final_loss,  # the mean training loss the last progress line printed
            "final_loss_steps": list(window),
            "loss_curve": history[:: max(1, len(history) // 50)],
        },
        "eval": {"before": before, "after": after, "curve": progress.curve} if progress.curve else None,
    }
    card = build_card(
        name=cfg.run.name or out.resolve().name,
        setup=run.setup,
        draft_init=cfg.draft.model_dump(mode="json"),
        result=result,
        command=command,
    )
    if not run.main:  # under torchrun only rank 0 writes
        return
    if progress.curve:
        plot_learning_curve(progress.curve, out / PLOT_FILE, card_title(card), converged["best_step"])
    write_card(out, card)
    held = f", held-out loss {after['loss']:.4f} at step {after['step']}" if after else ""
    _say(f"wrote {out} (train loss {final_loss:.4f}, mean of steps {window[0]}-{window[1]}{held})")
