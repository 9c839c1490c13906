"""The dataset contract: what a dataset folder holds, read in one place by every consumer.

    <folder>/manifest.json                                    `Manifest`: lineage, counts, statistics, files
    <folder>/README.md                                        the card (registry/card.py)
    <folder>/data/<config>/<split>-00000-of-00001.parquet     `shard_path(config, split)`

Configs are `t0_7` (one per generation temperature, `core`'s temperature tag) and `mixture`; `all` is every
per-temperature config together (the card's `configs:` exposes it through a glob, there is no folder).

    manifest = read_manifest(folder)          # Manifest; TempdraftError when missing or malformed
    dataset_configs(folder)                   # ['mixture', 't0_0', 't0_7']
    config_files(folder, "all", "train")      # the Parquet files of one config (or all) and split
    shard_layout(folder, manifest)            # {config: [splits]}

`Manifest` is permissive: every field a builder writes today is declared, but only `name` and
`fingerprint` are required and unknown fields are kept, so a dataset built before a field existed (or by a
newer builder) still loads, verifies and publishes as it is (`as_dict()` gives back exactly what was read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import TempdraftError
from core.names import dataset_name_problem

MANIFEST = "manifest.json"
ALL_CONFIG = "all"
MIXTURE_CONFIG = "mixture"
TEMPERATURE_CONFIG = re.compile(r"^t\d+_\d+$")
_SHARD_RE = re.compile(r"^data/(?P<config>[^/]+)/(?P<split>[A-Za-z0-9_]+)-\d+-of-\d+\.parquet$")


class Manifest(BaseModel):
    """`manifest.json` of a built dataset (builders/build.py writes it, every consumer reads it)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    fingerprint: str
    created_at: str | None = None
    command: str | None = None  # the exact command, tokens masked (core/provenance.py)
    recipe: dict[str, Any] | None = None  # the resolved recipe, paths made public (core/public.py)
    code_version: str | None = None
    pool: dict[str, Any] | None = None  # a mixture composed from a pool: its id, name, fingerprint
    teacher: dict[str, Any] | None = None  # name, revision, source, hub_id
    seed: int | None = None
    backend: dict[str, Any] | None = None
    tokenizer: dict[str, Any] | None = None  # name_or_path, vocab_size, chat_template_sha256
    stop_token_ids: list[int] | None = None
    versions: dict[str, Any] | None = None
    temperatures: list[float] | None = None  # the generation temperatures of the rows
    counts: dict[str, Any] | None = None
    stats: list[dict[str, Any]] | None = None  # per temperature and split (builders/stats.py)
    mixture_stats: list[dict[str, Any]] | None = None
    license: str | None = None
    license_parts: dict[str, str] | None = None
    files: dict[str, str] = {}  # relative path -> sha256 (builders/assemble.py)

    def as_dict(self) -> dict[str, Any]:
        """The manifest as JSON: the fields that were given, in their order, unknown ones included."""
        return self.model_dump(mode="json", exclude_unset=True)


def manifest_problems(data: Any) -> list[str]:
    """What keeps `data` from being a manifest the registry can rely on (one line per problem)."""
    if not isinstance(data, dict):
        return ["expected a JSON object"]
    problems = []
    if not isinstance(data.get("fingerprint"), str) or not data.get("fingerprint"):
        problems.append("fingerprint: missing or not a string")
    if not isinstance(data.get("files", {}), dict):
        problems.append("files: expected {relative path: sha256}")
    if (problem := dataset_name_problem(data.get("name"))) is not None:
        problems.append(f"name: invalid dataset name: {problem}")
    if not problems:
        try:
            Manifest.model_validate(data)
        except ValidationError as e:
            problems += [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
    return problems


def read_manifest(folder: Path | str) -> Manifest:
    """The folder's manifest, checked for the fields the registry relies on."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise TempdraftError(f"{folder} is not a built dataset: no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TempdraftError(f"{path}: unreadable manifest ({e})") from None
    if problems := manifest_problems(data):
        raise TempdraftError(f"{path}: " + "; ".join(problems))
    return Manifest.model_validate(data)


def manifest_fingerprint(folder: Path | str) -> str | None:
    """The fingerprint `folder`'s manifest names (None without one), read without the registry's checks:
    how a build tells whether a folder already holds its own result."""
    path = Path(folder) / MANIFEST
    return json.loads(path.read_text()).get("fingerprint") if path.is_file() else None


def shard_path(config: str, split: str) -> str:
    """Where one config's split lives in a dataset folder (the layout the Hub's loaders expect)."""
    return f"data/{config}/{split}-00000-of-00001.parquet"


def dataset_configs(folder: Path) -> list[str]:
    """The configs with a folder under `data/`, sorted."""
    data = Path(folder) / "data"
    return sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []


def config_files(folder: Path, config: str, split: str) -> list[Path]:
    """Parquet files of one config and split; `all` = every per-temperature config (t0_0, t0_7, ...)."""
    folder = Path(folder)
    if config == ALL_CONFIG and not (folder / "data" / ALL_CONFIG).is_dir():
        configs = [c for c in dataset_configs(folder) if TEMPERATURE_CONFIG.match(c)]
    else:
        configs = [config]
    return sorted(f for c in configs for f in (folder / "data" / c).glob(f"{split}-*.parquet"))


def split_files(folder: Path, split: str) -> list[Path]:
    """Parquet files of one split across every config (per-temperature and mixture)."""
    return [f for c in dataset_configs(folder) for f in config_files(folder, c, split)]


def data_files(folder: Path) -> list[Path]:
    """Every file under `data/` (listed or not: the card's globs would load any of them)."""
    return [p for p in sorted(Path(folder).glob("data/**/*")) if p.is_file()]


def shard_layout(folder: Path, manifest: Manifest | None = None) -> dict[str, list[str]]:
    """{config: [splits]} from the manifest's file list (or the folder when the manifest has none)."""
    paths: Iterable[str] = (manifest.files if manifest is not None else None) or [
        p.relative_to(folder).as_posix() for p in sorted(Path(folder).glob("data/*/*.parquet"))
    ]
    layout: dict[str, list[str]] = {}
    for rel in paths:
        m = _SHARD_RE.match(rel)
        if m:
            splits = layout.setdefault(m["config"], [])
            if m["split"] not in splits:
                splits.append(m["split"])
    return layout
