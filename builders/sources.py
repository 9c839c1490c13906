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
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders.recipe import FileSource, GeneratorSource, HubSource, Recipe
from core.errors import RecipeError

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


def _file_records(path: Path, cap: int | None) -> Iterator[tuple[str, Any]]:
    """(where, record) for each record of a local file, read lazily where the format allows; `where`
    ('line 7', 'record 3', 'row 3') locates a record in messages. Unreadable input raises
    RecipeError at `path`, with the line number."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RecipeError([("path", f"{path.name}: unsupported file type (use {', '.join(_FORMATS)})")])
    try:
        with path.open("rb") as f:
            is_array = path.suffix.lower() == ".json" and f.read(4096).lstrip().startswith(b"[")
        if is_array:  # one JSON document: read whole (JSON arrays cannot be streamed with the stdlib)
            records = json.loads(path.read_bytes().decode("utf-8"))
            yield from ((f"record {i + 1}", r) for i, r in enumerate(records))
        elif fmt == "json":
            with path.open("rb") as f:
                for n, raw in enumerate(f, start=1):
                    try:
                        line = raw.decode("utf-8")
                        if line.strip():
                            yield f"line {n}", json.loads(line)
                    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                        problem = f"{path.name} line {n}: not a JSON line ({e})"
                        raise RecipeError([("path", problem)]) from None
        else:
            import polars as pl

            # A row cap keeps a huge table from being read whole; past `cap` rows the plan is refused anyway.
            n_rows = None if cap is None else min(cap + 1, 2**32 - 1)
            read = pl.read_parquet if fmt == "parquet" else pl.read_csv
            frame = read(path, n_rows=n_rows)
            yield from ((f"row {i + 1}", r) for i, r in enumerate(frame.iter_rows(named=True)))
    except RecipeError:
        raise
    except Exception as e:  # unreadable (encoding, not JSON/Parquet/CSV, permissions): one clean line
        raise RecipeError([("path", f"cannot read {path.name}: {str(e)[:300]}")]) from None


def render_template(template: str, record: dict[str, Any], where: str) -> str:
    """Fill a template's plain `{column}` fields (the schema allows no other kind) from one record."""
    out = []
    for literal, column, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if column is None:
            continue
        if column not in record:
            raise RecipeError([("template", f"{where}: no column {column!r} for the template; "
                                            f"columns: {sorted(map(str, record))[:20]}")])
        value = record[column]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            kind = type(value).__name__
            raise RecipeError([("template", f"{where}: column {column!r} is {kind}, not text")])
        out.append(str(value))
    return "".join(out).strip()


def _prompt_text(record: Any, column: str | None, template: str | None, where: str) -> str:
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise RecipeError([("path", f"{where}: expected an object with named columns, got {kind}")])
    if template is not None:
        return render_template(template, record, where)
    if column is None:
        raise RecipeError([("", "give prompt_column or template")])
    if column not in record:
        columns = sorted(map(str, record))[:20]
        raise RecipeError([("prompt_column", f"column {column!r} not in {where}; columns: {columns}")])
    value = record[column]
    if isinstance(value, list):  # multi-turn sets (MT-bench `turns`): the first turn is the prompt
        value = value[0] if value else None
    if not isinstance(value, str):
        kind = type(value).__name__
        raise RecipeError([("prompt_column", f"{where}: column {column!r} is not text (got {kind})")])
    return value.strip()


def _to_prompts(label: str, texts: Iterable[str], system_prompt: str | None, limit: int | None,
                cap: int | None = None) -> list[Prompt]:
    """Unique prompts from `texts`, consumed lazily: reading stops at `limit`; more than `cap` is an error
    (the plan would exceed limits.max_requests)."""
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
        if cap is not None and len(out) > cap:
            raise RecipeError([("limit", f"gives more than {cap:,} prompts, more than limits.max_requests "
                                         "allows for this grid: set a `limit`, or raise it with "
                                         "--set limits.max_requests=N")])
    return out


def file_label(path: Path) -> str:
    """Default `source` label of a local file: `<folder>/<file>`, never a path on this machine."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def load_file_source(src: FileSource, base_dir: Path, cap: int | None = None) -> list[Prompt]:
    path = resolve_path(src.path, base_dir)
    where = path.name
    texts = (_prompt_text(r, src.prompt_column, src.template, f"{where} {at}")
             for at, r in _file_records(path, cap))
    return _to_prompts(src.name or file_label(path), texts, src.system_prompt, src.limit, cap)


def load_hub_source(src: HubSource, cap: int | None = None) -> list[Prompt]:
    import datasets

    try:
        ds = datasets.load_dataset(src.dataset, src.config, split=src.split, revision=src.revision)
    except Exception as e:  # offline, unknown id, bad split: one clear line, not a stack
        raise RecipeError([("dataset", f"cannot load Hub dataset {src.dataset!r} (split {src.split!r}): "
                                       f"{str(e)[:300]}")]) from None
    texts = (_prompt_text(r, src.prompt_column, src.template, f"{src.dataset} row {i + 1}")
             for i, r in enumerate(ds))
    return _to_prompts(src.name or src.dataset.split("/")[-1], texts, src.system_prompt, src.limit, cap)


def load_generator_source(src: GeneratorSource) -> list[Prompt]:
    import reasoning_gym

    try:
        data = reasoning_gym.create_dataset(src.generator, size=src.size, seed=src.seed)
        texts = [entry["question"] for entry in data]
    except Exception as e:
        problem = f"reasoning-gym generator {src.generator!r} failed: {str(e)[:300]}"
        raise RecipeError([("generator", problem)]) from None
    return _to_prompts(src.name or src.generator, texts, src.system_prompt, None)


def load_prompts(recipe: Recipe, base_dir: Path, cap: int | None = None) -> list[Prompt]:
    """Every source's prompts, in order; at most `cap` in all. Raises RecipeError naming each broken
    source (`sources.<i>.<field>`), after trying them all."""
    prompts: list[Prompt] = []
    problems: list[tuple[str, str]] = []
    for i, src in enumerate(recipe.sources):
        left = None if cap is None else max(cap - len(prompts), 0)
        try:
            if isinstance(src, FileSource):
                prompts += load_file_source(src, base_dir, left)
            elif isinstance(src, HubSource):
                prompts += load_hub_source(src, left)
            else:
                prompts += load_generator_source(src)
        except RecipeError as e:
            problems += [(".".join(p for p in (f"sources.{i}", path) if p), m) for path, m in e.problems]
    if problems:
        raise RecipeError(problems, origin="sources")
    return prompts
