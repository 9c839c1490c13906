"""Resumable checkpoints: `<output_dir>/checkpoints/step_<N>.pt` = draft, optimizer, step, RNG, progress.

One file per checkpoint, written to a temporary name and renamed, so a crash never leaves a
half-written checkpoint that looks valid. Progress is the trainer's bookkeeping: the training
losses, token count, held-out learning curve and (early stopping) the best evaluation's weights.
The data order needs no state: it is a pure function of (seed, micro-batch index), so restoring the
step restores the position in the data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from core.errors import ConfigError

_NAME = re.compile(r"^step_(\d+)\.pt$")
# Settings that may change between a run and its resume without changing the trained weights.
RESUME_FREE = {
    "run.output_dir",  # a run folder may be moved or copied before resuming
    "run.log_every",
    "run.checkpoint_every",
    "run.keep_checkpoints",
    "run.name",
    "run.device",
    "run.save_dtype",  # applied once, when the finished draft is saved
}


def checkpoint_dir(output_dir: Path) -> Path:
    return output_dir / "checkpoints"


def list_checkpoints(output_dir: Path) -> list[Path]:
    found = [
        (int(m.group(1)), p)
        for p in checkpoint_dir(output_dir).glob("step_*.pt")
        if (m := _NAME.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def save(
    output_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    keep: int,
) -> Path:
    folder = checkpoint_dir(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:08d}.pt"
    payload = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        **state,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    for old in list_checkpoints(output_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, str]]:
    a, b = _flatten(saved), _flatten(current)
    return [
        (k, f"the checkpoint was trained with {a.get(k)!r}; resuming needs the same value (got {b.get(k)!r})")
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k) and k not in RESUME_FREE
    ]


def load(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: dict[str, Any]
) -> dict[str, Any]:
    """Restore model, optimizer and RNG in place; returns the checkpoint (step, history, ...)."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    problems = config_differences(payload["config"], config)
    if problems:
        raise ConfigError(problems, origin=f"--resume {path}")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng_cpu"])
    if payload["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["rng_cuda"])
    return payload
