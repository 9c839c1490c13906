"""Prompt sources: Hub datasets, local files, and an offline reasoning-gym generator.

Each source yields `Prompt`s; `prompt_id` is a stable hash of the source label and the messages, so
the same prompt gets the same id in every build. The label (the `source` column) is the source's
`name:`, else the Hub dataset's name, the generator's name, or `<folder>/<file>` for a local file
(e.g. `gsm8k/train.jsonl`; it was the bare stem `train` before, which read like a split: set
`name: train` to keep that label and the prompt ids derived from it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders.errors import TempdraftError
from builders.recipe import FileSource, GeneratorSource, HubSource, Recipe

_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    source: str
    prompt: str
    messages: tuple[tuple[str, str], ...]  # ((role, content), ...), ending with the user turn

    def messages_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


def prompt_id(source: str, messages: tuple[tuple[str, str], ...]) -> str:
    blob = json.dumps([source, messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_path(path: str, base_dir: Path) -> Path:
    """A relative path resolves against the recipe's folder (so a recipe runs from any working directory);
    only when nothing is there, against the working directory (a path typed in `--set`). When neither
    exists, the recipe-relative path is returned, so the error names the path that was tried."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    beside_recipe = (base_dir / p).absolute()
    if beside_recipe.exists() or not p.exists():
        return beside_recipe
    return p.absolute()


def _read_file(path: Path) -> list[dict[str, Any]]:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TempdraftError(f"{path}: unsupported file type (use {', '.join(_FORMATS)})")
    if fmt == "json":
        text = path.read_text()
        if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    import polars as pl

    frame = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path)
    return frame.to_dicts()


def sample_record(path: Path) -> dict[str, Any]:
    """First record of a local file, for validating column names without reading it all."""
    if path.suffix.lower() == ".jsonl":
        with path.open() as f:
            for line in f:
                if line.strip():
                    return json.loads(line)
        return {}
    records = _read_file(path)
    return records[0] if records else {}


def _prompt_text(record: dict[str, Any], column: str | None, template: str | None, where: str) -> str:
    if template is not None:
        return template.format(**record).strip()
    value = record.get(column)  # type: ignore[arg-type]
    if isinstance(value, list):  # multi-turn sets (MT-bench `turns`): the first turn is the prompt
        value = value[0] if value else None
    if not isinstance(value, str):
        raise TempdraftError(f"{where}: column {column!r} is missing or not text in record {str(record)[:120]}")
    return value.strip()


def _to_prompts(label: str, texts: list[str], system_prompt: str | None, limit: int | None) -> list[Prompt]:
    out: list[Prompt] = []
    seen: set[str] = set()
    for text in texts:
        if not text:
            continue
        messages = ((("system", system_prompt),) if system_prompt else ()) + (("user", text),)
        pid = prompt_id(label, messages)
        if pid in seen:  # the same prompt twice would duplicate rows and leak across splits
            continue
        seen.add(pid)
        out.append(Prompt(pid, label, text, messages))
        if limit is not None and len(out) >= limit:
            break
    return out


def file_label(path: Path) -> str:
    """Default `source` label of a local file: `<folder>/<file>`, never a path on this machine."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_file_source(src: FileSource, base_dir: Path) -> list[Prompt]:
    path = resolve_path(src.path, base_dir)
    records = _read_file(path)
    texts = [_prompt_text(r, src.prompt_column, src.template, str(path)) for r in records]
    return _to_prompts(src.name or file_label(path), texts, src.system_prompt, src.limit)


def load_hub_source(src: HubSource) -> list[Prompt]:
    import datasets

    try:
        ds = datasets.load_dataset(src.dataset, src.config, split=src.split, revision=src.revision)
    except Exception as e:  # offline, unknown id, bad split: one clear line, not a stack
        raise TempdraftError(f"cannot load Hub dataset {src.dataset!r} (split {src.split!r}): {e}") from None
    n = len(ds) if src.limit is None else min(len(ds), src.limit * 2)  # headroom for duplicates
    texts = [_prompt_text(r, src.prompt_column, src.template, src.dataset) for r in ds.select(range(n))]
    return _to_prompts(src.name or src.dataset.split("/")[-1], texts, src.system_prompt, src.limit)


def load_generator_source(src: GeneratorSource) -> list[Prompt]:
    import reasoning_gym

    try:
        data = reasoning_gym.create_dataset(src.generator, size=src.size, seed=src.seed)
    except Exception as e:
        raise TempdraftError(f"reasoning-gym generator {src.generator!r} failed: {e}") from None
    texts = [entry["question"] for entry in data]
    return _to_prompts(src.name or src.generator, texts, src.system_prompt, None)


def load_prompts(recipe: Recipe, base_dir: Path) -> list[Prompt]:
    prompts: list[Prompt] = []
    for src in recipe.sources:
        if isinstance(src, FileSource):
            prompts += load_file_source(src, base_dir)
        elif isinstance(src, HubSource):
            prompts += load_hub_source(src)
        else:
            prompts += load_generator_source(src)
    return prompts
