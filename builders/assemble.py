"""Assemble the finished dataset folder from sampled rows, then publish it with one rename.

Layout (registry/dataset.py; what `datasets.load_dataset(folder, config)` and the Hub expect):
    data/t0_7/{train,validation}-00000-of-00001.parquet   one config per generation temperature
    data/mixture/{train,validation}-...                    the recipe's mixture, when it has one
    manifest.json, README.md (card; `configs:` also exposes `all` = every temperature)
The split is by prompt: a prompt's rows (every temperature, every sample) land in one split only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import polars as pl

from builders.requests import temperature_tag
from builders.rows import write_parquet_atomic
from core.faults import fault_point
from core.home import sha256_file
from registry.dataset import MANIFEST, MIXTURE_CONFIG, Manifest, shard_path


def assign_split(rows: pl.DataFrame, validation_fraction: float, seed: int) -> pl.DataFrame:
    """Exactly round(n * fraction) prompts go to validation, chosen by a seeded hash of prompt_id."""
    prompts = sorted(set(rows["prompt_id"].to_list()),
                     key=lambda p: hashlib.sha256(f"{seed}|split|{p}".encode()).hexdigest())
    n_val = round(len(prompts) * validation_fraction)
    if validation_fraction > 0 and len(prompts) > 1:
        n_val = max(1, min(n_val, len(prompts) - 1))  # keep both splits non-empty when asked for one
    validation = set(prompts[:n_val])
    return rows.with_columns(
        pl.when(pl.col("prompt_id").is_in(list(validation))).then(pl.lit("validation")).otherwise(pl.lit("train")).alias("split")
    )


def _write_config(frame: pl.DataFrame, folder: Path, config: str) -> None:
    for split in ("train", "validation"):
        part = frame.filter(pl.col("split") == split).drop("split").sort("request_id")
        if part.height == 0:
            continue
        write_parquet_atomic(part, folder / shard_path(config, split))


def assembly_leftovers(out: Path) -> list[Path]:
    """Temporary folders of assemblies of `out` that never reached their rename (the process died).
    Only stale when no build of `out` is running: the caller holds the build lock (builders/workdir.py)."""
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def assemble_dataset(rows: pl.DataFrame | None, mixture_rows: pl.DataFrame | None, out: Path,
                     manifest: Manifest) -> Path:
    """Write every config and the manifest/card into a temporary folder beside `out`, then rename it.
    `rows` (the sampled pool) become one config per temperature; a dataset composed from another
    dataset's pool holds only its mixture. `out` must not exist: the rename is the one step that makes
    the dataset appear, complete."""
    from registry.card import write_card

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for t in sorted(set(rows["temperature"])) if rows is not None else []:
        _write_config(rows.filter(pl.col("temperature") == t), tmp, temperature_tag(t))
    if mixture_rows is not None:
        _write_config(mixture_rows, tmp, MIXTURE_CONFIG)
    fault_point("assemble")
    files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*.parquet"))}
    manifest = manifest.model_copy(update={"files": files})
    (tmp / MANIFEST).write_text(json.dumps(manifest.as_dict(), indent=2, ensure_ascii=False))
    write_card(tmp, manifest)
    os.replace(tmp, out)
    return out
