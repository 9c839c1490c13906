"""Dataset card (README.md) for a built dataset folder, generated from its manifest.

    from registry.card import write_card
    write_card(folder, manifest)          # writes <folder>/README.md, nothing else

The YAML front matter carries the Hub metadata (license, language, task_categories, size_categories,
tags) and `configs:`, which is what `datasets.load_dataset(folder_or_hub_id, "<config>")`
reads: one config per generation temperature (`t0_7`, no dots), `all` (every temperature folder
`data/t*/`), and `mixture` (the default when present). The body carries the lineage (recipe,
command, teacher + revision, fingerprint, versions), per-temperature statistics and shard sha256.

Each config's `description` is a digest of its shards' sha256 values. datasets caches a local folder
under its folder name (every store's first version is `v1`) and a hash of the card's YAML only, never
of the files themselves: without the digest, two versions with the same name and vN (two stores, or a
version deleted and re-created) would share one cache entry and one would be served the other's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from core.provenance import mask_secrets
from core.public import public_manifest
from registry.dataset import ALL_CONFIG, MIXTURE_CONFIG, TEMPERATURE_CONFIG, Manifest, shard_layout
from registry.licenses import dataset_license


def _split_order(splits: Iterable[str]) -> list[str]:
    rank = {"train": 0, "validation": 1, "test": 2}
    return sorted(set(splits), key=lambda s: (rank.get(s, 9), s))


def _shards_digest(files: Mapping[str, str], patterns: Iterable[str]) -> str | None:
    """sha256 over the (path, sha256) pairs of the shards matching `patterns`, 16 hex; None if none do."""
    patterns = list(patterns)
    chosen = sorted((p, h) for p, h in files.items() if any(fnmatch(p, pat) for pat in patterns))
    if not chosen:
        return None
    return hashlib.sha256("".join(f"{p} {h}\n" for p, h in chosen).encode()).hexdigest()[:16]


def card_configs(
    layout: dict[str, list[str]], files: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The `configs:` YAML list: mixture (default), all, then one per temperature, in that order.
    `files` ({shard: sha256}, the manifest's) adds each config's shard digest as its `description`,
    which `load_dataset` hashes into its cache key (see the module docstring)."""
    temps = sorted((c for c in layout if TEMPERATURE_CONFIG.match(c)), key=_config_sort_key)
    others = sorted(c for c in layout if c not in temps and c != MIXTURE_CONFIG)
    configs: list[dict[str, Any]] = []

    def entry(name: str, pattern: str, splits: Iterable[str]) -> dict[str, Any]:
        data_files = [{"split": s, "path": pattern.format(split=s)} for s in _split_order(splits)]
        config: dict[str, Any] = {"config_name": name, "data_files": data_files}
        digest = _shards_digest(files or {}, (f["path"] for f in data_files))
        if digest:
            config["description"] = f"shards sha256 {digest}"
        return config

    if MIXTURE_CONFIG in layout:
        configs.append(
            entry(MIXTURE_CONFIG, f"data/{MIXTURE_CONFIG}/{{split}}-*.parquet", layout[MIXTURE_CONFIG])
        )
    if temps:
        all_splits = [s for c in temps for s in layout[c]]
        configs.append(entry(ALL_CONFIG, "data/t*/{split}-*.parquet", all_splits))
    configs += [entry(c, f"data/{c}/{{split}}-*.parquet", layout[c]) for c in temps + others]
    if configs:
        configs[0]["default"] = True
    return configs


def _config_sort_key(name: str) -> float:
    whole, _, frac = name[1:].partition("_")
    return float(f"{whole}.{frac}")


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_"
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v if v is not None else "").replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _yaml_block(value: Any) -> str:
    return "```yaml\n" + yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip() + "\n```"


def _body(manifest: Manifest, configs: list[dict[str, Any]]) -> str:
    name = manifest.name
    teacher = manifest.teacher or {}
    tokenizer = manifest.tokenizer or {}
    temps = manifest.temperatures or []
    default = next((c["config_name"] for c in configs if c.get("default")), None)
    example = next((c["config_name"] for c in configs if TEMPERATURE_CONFIG.match(c["config_name"])), default)

    out = [f"# {name}", ""]
    out += [
        "Teacher samples for distilling a speculative-decoding draft, built by "
        "tempdraft with the generation temperature as a first-class axis: "
        f"generation temperatures {', '.join(str(t) for t in temps) or 'n/a'}.",
        "",
        "## Configs",
        "",
        _markdown_table(
            [
                {
                    "config": c["config_name"],
                    "splits": ", ".join(f["split"] for f in c["data_files"]),
                    "default": "yes" if c.get("default") else "",
                }
                for c in configs
            ]
        ),
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("<this folder or hub id>", "{example}")'
        + ('  # add revision="vN" for a Hub version' if example else ""),
        "```",
        "",
        "## Lineage",
        "",
        _markdown_table(
            [
                {"field": "fingerprint", "value": f"`{manifest.fingerprint}`"},
                {"field": "teacher", "value": teacher.get("name", "")},
                {"field": "teacher revision", "value": f"`{teacher.get('revision', '')}`"},
                {"field": "teacher source", "value": teacher.get("source", "")},
                {"field": "tokenizer", "value": tokenizer.get("name_or_path", "")},
                {"field": "vocab size", "value": tokenizer.get("vocab_size", "")},
                {"field": "chat template sha256", "value": f"`{tokenizer.get('chat_template_sha256', '')}`"},
                {"field": "code version", "value": f"`{manifest.code_version or ''}`"},
                {"field": "created at", "value": manifest.created_at or ""},
            ]
        ),
        "",
    ]
    out += _provenance_sections(manifest) + _license_section(manifest) + _statistics_sections(manifest)
    out += [
        "## Files (sha256)",
        "",
        _markdown_table([{"file": k, "sha256": f"`{v}`"} for k, v in manifest.files.items()]),
        "",
    ]
    return "\n".join(out)


def _provenance_sections(manifest: Manifest) -> list[str]:
    out: list[str] = []
    if manifest.command:
        out += ["Command:", "", "```bash", manifest.command, "```", ""]
    for title, value in (("Resolved recipe", manifest.recipe), ("Backend", manifest.backend),
                         ("Code and package versions", manifest.versions)):
        if value:
            out += [f"{title}:", "", _yaml_block(value), ""]
    return out


def _license_section(manifest: Manifest) -> list[str]:
    license, parts = card_license(manifest)
    return [
        "## License",
        "",
        f"`{license}`. A row is a prompt and a teacher response; each part's license:",
        "",
        _markdown_table([{"part": k, "license": v} for k, v in parts.items()]),
        "",
    ]


def _statistics_sections(manifest: Manifest) -> list[str]:
    out = ["## Statistics per temperature", ""]
    if manifest.stats:
        out += [_markdown_table([dict(r) for r in manifest.stats]), ""]
    if manifest.mixture_stats:
        out += ["Mixture:", "", _markdown_table([dict(r) for r in manifest.mixture_stats]), ""]
    if manifest.counts:
        out += ["Counts:", "", _yaml_block(manifest.counts), ""]
    if not manifest.stats and not manifest.counts:
        out += ["_not recorded_", ""]
    return out


_SIZES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    return next((name for bound, name in _SIZES if rows < bound), "n>1B")


def _rows(manifest: Manifest) -> int:
    counts = manifest.counts or {}
    from_stats = sum(int(r.get("rows", 0)) for r in manifest.stats or [])
    return int(max(counts.get("rows") or 0, counts.get("mixture_rows") or 0, from_stats))


def card_license(manifest: Manifest) -> tuple[str, dict[str, str]]:
    """(license id, {part: license}): the manifest's (written at build time), else derived from its recipe."""
    if manifest.license:
        return manifest.license, dict(manifest.license_parts or {})
    return dataset_license(manifest.recipe or {}, (manifest.teacher or {}).get("name"))


def card_metadata(folder: Path, manifest: Manifest) -> DatasetCardData:
    """The YAML front matter: what the Hub indexes and `load_dataset` reads."""
    recipe = manifest.recipe or {}
    return DatasetCardData(
        pretty_name=manifest.name,
        license=card_license(manifest)[0],
        language=list(recipe.get("language") or ["en"]),
        task_categories=["text-generation"],
        size_categories=[size_category(_rows(manifest))],
        tags=["tempdraft", "speculative-decoding", "knowledge-distillation", "synthetic"],
        configs=card_configs(shard_layout(folder, manifest), manifest.files),
    )


def render_card(folder: Path, manifest: Manifest) -> str:
    """The card text (front matter + body) for a dataset folder; pure. Local paths never reach it."""
    # Made public again: also for manifests written before core/public.py's rule.
    manifest = Manifest.model_validate(public_manifest(manifest.as_dict()))
    data = card_metadata(folder, manifest)
    text = f"---\n{data.to_yaml()}\n---\n\n{_body(manifest, data.configs)}"
    return mask_secrets(text)  # the card is public: never let a token through


def write_card(folder: Path, manifest: Manifest) -> None:
    """Write `<folder>/README.md` from the manifest. Touches nothing else."""
    folder = Path(folder)
    card = DatasetCard(render_card(folder, manifest))
    (folder / "README.md").write_text(str(card), encoding="utf-8")
