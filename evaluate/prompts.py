"""Held-out prompts (token ids) and teacher samples for the analytic α, from a dataset id or a JSONL file.

A dataset id resolves (registry.resolve.resolve_dataset) to a folder with `data/<config>/<split>-*.parquet`;
rows of every config's `split` are read, de-duplicated (a mixture config repeats rows of the temperature
configs), ordered by prompt_id. Prompt tokens come from `prompt_token_ids` when present (exactly what the
teacher saw), else the chat template over `messages`, else the `prompt` text. Rows with
`response_token_ids` at temperature T are the held-out teacher samples for the analytic α at T.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Sample = tuple[list[int], list[int]]  # (prompt ids, response ids)


@dataclass
class PromptSet:
    source: str
    prompt_ids: list[str]
    prompts: list[list[int]]
    teacher_samples: dict[float, list[Sample]] = field(default_factory=dict)
    manifest: Any = None  # registry.dataset.Manifest of a dataset source; None for a JSONL file

    def samples_at(self, temperature: float, limit: int) -> list[Sample]:
        for t, rows in self.teacher_samples.items():
            if abs(t - temperature) < 1e-6:
                return rows[:limit]
        return []


def encode_prompt(tokenizer, row: dict[str, Any], prompt_column: str = "prompt") -> list[int]:
    if row.get("prompt_token_ids") is not None:
        return [int(t) for t in row["prompt_token_ids"]]
    messages = row.get("messages")
    if messages is None and tokenizer.chat_template:
        messages = [{"role": "user", "content": str(row[prompt_column])}]
    if messages is not None:
        return list(
            tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
    return tokenizer(str(row[prompt_column])).input_ids


def _dataset_rows(folder: Path, split: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from registry.dataset import split_files
    from registry.integrity import shard_errors

    wanted = [
        "prompt_id",
        "prompt",
        "messages",
        "prompt_token_ids",
        "response_token_ids",
        "temperature",
        "sample_index",
        "seed",
    ]
    rows: dict[tuple, dict[str, Any]] = {}
    for file in split_files(folder, split):
        with shard_errors(file):  # damaged after resolve_dataset checked it: name the file
            names = pq.read_schema(file).names
            table = pq.read_table(file, columns=[c for c in wanted if c in names])
        for row in table.to_pylist():
            key = (row.get("prompt_id"), row.get("temperature"), row.get("sample_index"), row.get("seed"))
            rows.setdefault(key, row)
    return sorted(
        rows.values(),
        key=lambda r: (str(r.get("prompt_id")), r.get("temperature") or 0.0, r.get("sample_index") or 0),
    )


def _jsonl_rows(file: Path, prompt_column: str) -> list[dict[str, Any]]:
    rows = []
    for line in file.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            content = json.dumps(row.get("messages", row.get(prompt_column)), sort_keys=True)
            row.setdefault("prompt_id", hashlib.sha256(content.encode()).hexdigest()[:16])
            rows.append(row)
    return rows


def load_prompt_set(
    source: str, tokenizer, num_prompts: int, split: str = "validation", prompt_column: str = "prompt"
) -> PromptSet:
    from core.errors import TempdraftError

    path = Path(source).expanduser()
    manifest = None
    if path.suffix == ".jsonl":
        rows = _jsonl_rows(path, prompt_column)
        origin = str(path)
    else:
        from registry.dataset import read_manifest
        from registry.resolve import resolve_dataset

        folder = resolve_dataset(source)
        manifest = read_manifest(folder)
        rows = _dataset_rows(folder, split)
        origin = f"{source} ({folder}, split {split})"
    if not rows:
        raise TempdraftError(f"{origin}: no rows")
    if not any(
        r.get(c) is not None for r in rows[:1] for c in ("prompt_token_ids", "messages", prompt_column)
    ):
        raise TempdraftError(f"{origin}: rows have none of prompt_token_ids / messages / {prompt_column}")
    chosen: dict[str, list[int]] = {}
    for row in rows:
        pid = str(row["prompt_id"])
        if pid not in chosen and len(chosen) < num_prompts:
            chosen[pid] = encode_prompt(tokenizer, row, prompt_column)
    # Teacher samples by temperature; rows of the evaluated prompts first (same prompt distribution).
    samples: dict[float, list[tuple[bool, Sample]]] = {}
    for row in rows:
        if row.get("response_token_ids") is None or row.get("temperature") is None:
            continue
        pair = (encode_prompt(tokenizer, row, prompt_column), [int(t) for t in row["response_token_ids"]])
        samples.setdefault(float(row["temperature"]), []).append((str(row["prompt_id"]) not in chosen, pair))
    by_t = {t: [pair for _, pair in sorted(v, key=lambda x: x[0])] for t, v in samples.items()}
    return PromptSet(
        source=origin,
        prompt_ids=list(chosen),
        prompts=list(chosen.values()),
        teacher_samples=by_t,
        manifest=manifest,
    )
