"""The row schema of a built dataset and the atomic Parquet shard writer."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

ROW_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),
    "prompt_id": pl.String(),
    "source": pl.String(),
    "prompt": pl.String(),
    "messages": pl.List(pl.Struct({"role": pl.String(), "content": pl.String()})),
    "prompt_token_ids": pl.List(pl.Int32()),
    "response": pl.String(),
    "response_token_ids": pl.List(pl.Int32()),
    "temperature": pl.Float64(),
    "top_p": pl.Float64(),
    "seed": pl.Int64(),
    "sample_index": pl.Int32(),
    "finish_reason": pl.String(),
    "num_tokens": pl.Int32(),
}
TOPK_SCHEMA: dict[str, pl.DataType] = {
    "topk_token_ids": pl.List(pl.List(pl.Int32())),
    "topk_logprobs": pl.List(pl.List(pl.Float32())),
}


def schema(with_topk: bool) -> dict[str, pl.DataType]:
    return {**ROW_SCHEMA, **(TOPK_SCHEMA if with_topk else {})}


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write to a temporary name in the same folder, fsync, then rename: a reader (or a resumed
    build) sees either no file or the complete file, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.write_parquet(tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
