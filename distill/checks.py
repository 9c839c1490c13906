"""Checks a valid config still needs the filesystem for, all collected into one `ConfigError`.

Run by both `python -m distill validate` and `train` before any model weights load:
- the dataset id resolves (through `registry.resolve.resolve_dataset`), the config and split exist,
  and the columns the mode needs are there;
- topk mode: a set loss temperature equals the temperature the log-probs were stored at;
- lineage: the dataset's manifest names the same teacher revision, tokenizer vocabulary size and
  chat-template hash as the configured teacher (so a draft never learns another model's samples);
- the draft: a pretrained draft's tokenizer equals the teacher's; derived drafts fit the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, TempdraftError
from distill.config import DistillConfig
from distill.data import TOPK_COLUMNS, TRAIN_COLUMNS, parquet_columns, read_columns
from registry.dataset import Manifest, config_files, dataset_configs, read_manifest

Problems = list[tuple[str, str]]


@dataclass
class Setup:
    """Everything training needs that the checks had to work out anyway."""

    config: DistillConfig
    folder: Path
    manifest: Manifest
    files: list[Path]
    eval_files: list[Path]
    temperatures: list[float]  # generation temperatures of the training rows
    num_rows: int
    teacher: Any  # core.teacher.ResolvedTeacher
    version: str | None  # 'name@vN' when the catalog knows this fingerprint


def _dataset_problems(
    cfg: DistillConfig,
) -> tuple[Path | None, Manifest | None, list[Path], list[Path], Problems]:
    from registry.resolve import resolve_dataset

    ds = cfg.dataset
    try:
        folder = resolve_dataset(ds.id)
        manifest = read_manifest(folder)
    except TempdraftError as e:
        return None, None, [], [], [("dataset.id", str(e))]
    configs = dataset_configs(folder)
    if ds.config != "all" and ds.config not in configs:
        return (
            folder,
            manifest,
            [],
            [],
            [("dataset.config", f"no config {ds.config!r} in {folder}; available: {configs + ['all']}")],
        )
    files = config_files(folder, ds.config, ds.split)
    problems: Problems = []
    if not files:
        problems.append(("dataset.split", f"no {ds.split!r} files for config {ds.config!r} in {folder}"))
    eval_files: list[Path] = []
    if cfg.run.eval_split is not None:
        eval_files = config_files(folder, ds.config, cfg.run.eval_split)
        if not eval_files:
            problems.append(
                ("run.eval_split", f"no {cfg.run.eval_split!r} files for config {ds.config!r} in {folder}")
            )
    return folder, manifest, files, eval_files, problems


def _column_problems(cfg: DistillConfig, files: list[Path]) -> tuple[list[float], int, Problems]:
    columns = parquet_columns(files)
    missing = [c for c in TRAIN_COLUMNS if c not in columns]
    if missing:
        return [], 0, [("dataset.id", f"rows lack the columns {missing}")]
    problems: Problems = []
    if cfg.loss.mode == "topk" and not set(TOPK_COLUMNS) <= columns:
        problems.append(
            (
                "loss.mode",
                "topk needs the columns topk_token_ids/topk_logprobs; "
                "build the dataset with sampling.topk_logprobs > 0, or use mode seqkd or online",
            )
        )
    temps = read_columns(files, ["temperature"], cfg.dataset.max_rows)["temperature"]
    temperatures = sorted({float(t) for t in temps})
    if cfg.loss.mode == "topk" and cfg.loss.temperature is not None:
        stored = sorted(
            {t if t > 0 else 1.0 for t in temperatures}
        )  # greedy rows store raw (T = 1) log-probs
        if stored != [cfg.loss.temperature]:
            problems.append(
                (
                    "loss.temperature",
                    f"the stored top-k log-probs are at temperature(s) {stored}; a top-k "
                    "cannot be re-tempered exactly (its tail is unknown): unset it, or use mode online",
                )
            )
    return temperatures, len(temps), problems


def _lineage_problems(manifest: Manifest, teacher: Any, tokenizer: Any) -> Problems:
    from distill.models import tokenizer_identity

    problems: Problems = []
    recorded = manifest.teacher or {}
    if recorded.get("revision") != teacher.revision:
        problems.append(
            (
                "teacher.model",
                f"the dataset was sampled from {recorded.get('name')!r} at revision "
                f"{recorded.get('revision')!r}, but this teacher resolves to revision {teacher.revision!r}",
            )
        )
    ours, theirs = tokenizer_identity(tokenizer), manifest.tokenizer or {}
    for key, value in ours.items():
        if theirs.get(key) != value:
            problems.append(
                ("teacher.model", f"tokenizer {key} differs: dataset {theirs.get(key)!r}, teacher {value!r}")
            )
    return problems


def _draft_problems(cfg: DistillConfig, teacher_path: str, tokenizer: Any) -> Problems:
    from transformers import AutoConfig, AutoTokenizer

    from distill.models import vocab_problem

    spec = cfg.draft
    if spec.init == "pretrained":
        try:
            draft_tok = AutoTokenizer.from_pretrained(spec.model, revision=spec.revision)
        except (OSError, ValueError) as e:
            return [("draft.model", f"cannot load the draft's tokenizer: {str(e)[:200]}")]
        problem = vocab_problem(tokenizer, draft_tok, f"draft {spec.model!r}")
        return [("draft.model", problem)] if problem else []
    layers = AutoConfig.from_pretrained(teacher_path).num_hidden_layers
    problems: Problems = []
    if spec.init == "first_n_layers" and spec.num_layers > layers:
        problems.append(("draft.num_layers", f"the teacher has only {layers} layers (got {spec.num_layers})"))
    if spec.init == "small_config":
        heads, kv = spec.num_attention_heads, spec.num_key_value_heads
        if spec.hidden_size and heads and spec.hidden_size % heads:
            problems.append(
                (
                    "draft.num_attention_heads",
                    f"hidden_size {spec.hidden_size} is not divisible by {heads} heads",
                )
            )
        if heads and kv and heads % kv:
            problems.append(
                ("draft.num_key_value_heads", f"{heads} attention heads are not divisible by {kv} KV heads")
            )
    return problems


def _catalog_ref(manifest: Manifest) -> str | None:
    """'name@vN' of this dataset in the local catalog, for the card; lineage is informative, never fatal."""
    try:
        from registry.versions import find_version

        found = find_version(manifest.name, manifest.fingerprint)
        return found.ref if found else None
    except Exception:  # no catalog yet, or an unreadable one: the fingerprint still identifies the data
        return None


def check(cfg: DistillConfig, origin: str = "config") -> Setup:
    """Every filesystem-level problem at once (ConfigError), or the Setup training starts from."""
    from transformers import AutoTokenizer

    from core.teacher import resolve_teacher

    folder, manifest, files, eval_files, problems = _dataset_problems(cfg)
    temperatures, num_rows = [], 0
    if files:
        temperatures, num_rows, more = _column_problems(cfg, files)
        problems += more
    teacher = None
    try:
        teacher = resolve_teacher(cfg.teacher.model, cfg.teacher.revision)
    except TempdraftError as e:
        problems.append(("teacher.model", str(e)))
    if teacher is not None:
        tokenizer = AutoTokenizer.from_pretrained(teacher.path)
        if manifest is not None:
            problems += _lineage_problems(manifest, teacher, tokenizer)
        problems += _draft_problems(cfg, teacher.path, tokenizer)
    if problems:
        raise ConfigError(problems, origin=origin)
    assert folder is not None and manifest is not None
    return Setup(
        cfg, folder, manifest, files, eval_files, temperatures, num_rows, teacher, _catalog_ref(manifest)
    )
