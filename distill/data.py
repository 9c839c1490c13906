"""Rows of a built dataset -> training examples -> padded batches, in a deterministic order.

A dataset folder (what `registry.resolve.resolve_dataset` returns; its layout and manifest:
registry/dataset.py) holds `data/<config>/<split>-*.parquet`; config `all` means every per-temperature
config (`t0_0`, `t0_7`, ...) together (`registry.dataset.config_files`). Files are read with pyarrow
(only the columns training needs), not `load_dataset`: no cache copy of the data, and the
benchmark's GPU machine (no `datasets`) can use the same code.

An example is prompt_token_ids + response_token_ids. The draft is trained on response positions only:
position i predicts token i + 1, so the targets are positions prompt_len - 1 ... len - 2.
The batch order is a pure function of (seed, micro-batch index), which is what makes resume exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

TRAIN_COLUMNS = ["prompt_token_ids", "response_token_ids", "temperature"]
TOPK_COLUMNS = ["topk_token_ids", "topk_logprobs"]


def parquet_columns(files: list[Path]) -> set[str]:
    import pyarrow.parquet as pq

    from registry.integrity import shard_errors

    if not files:
        return set()
    with shard_errors(files[0]):
        return set(pq.read_schema(files[0]).names)


def read_columns(files: list[Path], columns: list[str], max_rows: int | None = None) -> dict[str, list[Any]]:
    """The columns of every file, concatenated; a damaged file raises an IntegrityError naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from registry.integrity import shard_errors

    tables = []
    for f in files:
        with shard_errors(f):
            tables.append(pq.read_table(f, columns=columns))
    table = pa.concat_tables(tables)
    if max_rows is not None:
        table = table.slice(0, max_rows)
    return table.to_pydict()


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    prompt_len: int
    temperature: float  # the row's generation temperature
    topk_ids: list[list[int]] | None = None  # per response token (aligned with the targets)
    topk_logprobs: list[list[float]] | None = None


def make_examples(columns: dict[str, list[Any]], max_length: int) -> tuple[list[Example], int]:
    """Rows -> examples, cutting responses that run past max_length. Returns (examples, rows dropped)."""
    examples, dropped = [], 0
    with_topk = "topk_token_ids" in columns
    for i, prompt in enumerate(columns["prompt_token_ids"]):
        response = columns["response_token_ids"][i]
        # Cut the response's tail, never the prompt's head: the chat template must stay intact.
        keep = min(len(response), max_length - len(prompt))
        if keep < 1:
            dropped += 1
            continue
        examples.append(
            Example(
                input_ids=list(prompt) + list(response[:keep]),
                prompt_len=len(prompt),
                temperature=float(columns["temperature"][i]),
                topk_ids=columns["topk_token_ids"][i][:keep] if with_topk else None,
                topk_logprobs=columns["topk_logprobs"][i][:keep] if with_topk else None,
            )
        )
    return examples, dropped


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch. `target_mask[b, i]` marks positions whose next token is a response token."""
    width = max(len(e.input_ids) for e in examples)
    n = len(examples)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    target_mask = torch.zeros((n, width), dtype=torch.bool)
    targets = torch.zeros((n, width), dtype=torch.long)
    for b, e in enumerate(examples):
        length = len(e.input_ids)
        input_ids[b, :length] = torch.tensor(e.input_ids)
        attention_mask[b, :length] = 1
        target_mask[b, e.prompt_len - 1 : length - 1] = True
        targets[b, : length - 1] = input_ids[b, 1:length]
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "target_mask": target_mask,
        "targets": targets,
        "temperature": torch.tensor([e.temperature for e in examples]),
    }
    if examples[0].topk_ids is not None:
        k = len(examples[0].topk_ids[0])
        ids = torch.zeros((n, width, k), dtype=torch.long)
        logprobs = torch.zeros((n, width, k), dtype=torch.float32)
        for b, e in enumerate(examples):
            start, end = e.prompt_len - 1, len(e.input_ids) - 1
            ids[b, start:end] = torch.tensor(e.topk_ids, dtype=torch.long)
            logprobs[b, start:end] = torch.tensor(e.topk_logprobs, dtype=torch.float32)
        batch["topk_ids"], batch["topk_logprobs"] = ids, logprobs
    return batch


class BatchOrder:
    """Micro-batch m -> example indices: a fresh permutation per epoch, seeded by (seed, epoch).

    Incomplete trailing batches are dropped so every micro-batch has the same number of rows.
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int):
        self.n = num_examples
        self.batch_size = min(batch_size, num_examples)
        self.seed = seed
        self.per_epoch = num_examples // self.batch_size
        self._cache: tuple[int, list[int]] | None = None

    def _perm(self, epoch: int) -> list[int]:
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache = (epoch, torch.randperm(self.n, generator=g).tolist())
        return self._cache[1]

    def indices(self, micro_batch: int) -> list[int]:
        epoch, within = divmod(micro_batch, self.per_epoch)
        return self._perm(epoch)[within * self.batch_size : (within + 1) * self.batch_size]
