"""Text for `python -m registry list | show | diff` (tables through polars)."""

from __future__ import annotations

import difflib
from typing import Any

import polars as pl
import yaml

from registry.card import card_configs
from registry.catalog import Catalog, DatasetVersion
from registry.dataset import ALL_CONFIG, Manifest, read_manifest, shard_layout

_KEYS = ["temperature", "split"]


def table(df: pl.DataFrame) -> str:
    """A Markdown table with every cell on one line: polars wraps cells to fit `tbl_width_chars`
    ("validatio | n"), so the width is unbounded and a terminal scrolls instead."""
    with pl.Config(
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=65_535,  # the largest polars accepts
        tbl_formatting="ASCII_MARKDOWN",
        fmt_str_lengths=1_000,
    ):
        return str(df)


def _rows_total(manifest: Manifest | None) -> int | None:
    stats = manifest.stats if manifest is not None else None
    if stats and all("rows" in r for r in stats):
        return int(sum(r["rows"] for r in stats))
    return None


def list_text(catalog: Catalog, name: str | None = None) -> str:
    versions = catalog.versions(name)
    if not versions:
        return f"no dataset versions in {catalog.root} yet"
    rows = []
    for v in versions:
        manifest = _manifest_or_none(v)
        published = ", ".join(f"{r.repo_id}@{r.revision}" for r in catalog.remotes_of(v.name, v.version))
        rows.append(
            {
                "version": v.ref,
                "fingerprint": v.fingerprint[:12],
                "temperatures": ", ".join(str(t) for t in (manifest and manifest.temperatures) or []),
                "rows": _rows_total(manifest),
                "created": v.created_at or "",
                "origin": v.origin,
                "verified": "yes" if v.verified_at else "no",
                "hub": published,
            }
        )
    return table(pl.DataFrame(rows)) + f"\ncatalog: {catalog.db}"


def _manifest_or_none(v: DatasetVersion) -> Manifest | None:
    try:
        return read_manifest(v.path)
    except Exception:  # a damaged version still lists; `verify` explains what is wrong
        return None


def stats_frame(manifest: Manifest) -> pl.DataFrame | None:
    return pl.DataFrame(manifest.stats) if manifest.stats else None


def show_text(catalog: Catalog, v: DatasetVersion) -> str:
    manifest = read_manifest(v.path)
    teacher = manifest.teacher or {}
    tokenizer = manifest.tokenizer or {}
    configs = card_configs(shard_layout(v.path, manifest))
    names = [c["config_name"] + (" (default)" if c.get("default") else "") for c in configs]
    lines = [
        f"{v.ref}",
        f"  fingerprint : {v.fingerprint}",
        f"  path        : {v.path}",
        f"  created     : {v.created_at or '?'}   registered: {v.registered_at}   origin: {v.origin}",
        f"  verified    : {v.verified_at or 'no (checked on every use; `registry verify` hashes now)'}",
        f"  command     : {manifest.command or '?'}",
        f"  teacher     : {teacher.get('name', '?')} @ {teacher.get('revision', '?')} "
        f"({teacher.get('source', '?')})",
        f"  tokenizer   : {tokenizer.get('name_or_path', '?')} vocab={tokenizer.get('vocab_size', '?')} "
        f"chat_template_sha256={str(tokenizer.get('chat_template_sha256', '?'))[:16]}",
        f"  backend     : {_inline(manifest.backend)}",
        f"  code version: {manifest.code_version or '?'}",
        f"  versions    : {_inline(manifest.versions)}",
        f"  temperatures: {', '.join(str(t) for t in manifest.temperatures or [])}",
        f"  configs     : {', '.join(names)}",
    ]
    lines += [
        f"  on the Hub  : {r.repo_id}@{r.revision} ({r.kind}, {r.commit_sha})"
        for r in catalog.remotes_of(v.name, v.version)
    ]
    stats = stats_frame(manifest)
    lines += ["", "Statistics per temperature:", table(stats) if stats is not None else "  (not recorded)"]
    if manifest.mixture_stats:
        lines += ["", "Mixture:", table(pl.DataFrame(manifest.mixture_stats))]
    if manifest.counts:
        lines += ["", "Counts:", _indent(yaml.safe_dump(manifest.counts, sort_keys=False))]
    lines += [
        "",
        "Load it:",
        f'  load_version("{v.ref}", "{_example_config(configs)}")  # registry.resolve: checks shards',
        f'  or datasets.load_dataset("{v.path}", "{_example_config(configs)}")  # after registry verify',
    ]
    return "\n".join(lines)


def _example_config(configs: list[dict[str, Any]]) -> str:
    temps = [c["config_name"] for c in configs if c["config_name"].startswith("t")]
    return temps[0] if temps else (configs[0]["config_name"] if configs else ALL_CONFIG)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "?" if value is None else str(value)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())


def diff_data(a: DatasetVersion, b: DatasetVersion) -> dict[str, Any]:
    """The comparison as data (`registry diff --json`): recipe diff, changed lineage, joined statistics."""
    ma, mb = read_manifest(a.path), read_manifest(b.path)
    # 1. Recipes: a unified diff of the resolved recipes as YAML.
    ya = yaml.safe_dump(ma.recipe, sort_keys=True).splitlines(keepends=True)
    yb = yaml.safe_dump(mb.recipe, sort_keys=True).splitlines(keepends=True)
    recipe_diff = [
        x.rstrip("\n") for x in difflib.unified_diff(ya, yb, f"{a.ref}/recipe.yaml", f"{b.ref}/recipe.yaml")
    ]
    # 2. Lineage fields that differ.
    lineage = {
        key: {"a": getattr(ma, key), "b": getattr(mb, key)}
        for key in ("command", "teacher", "tokenizer", "backend", "code_version", "versions", "temperatures")
        if getattr(ma, key) != getattr(mb, key)
    }
    # 3. Statistics side by side, joined on (temperature, split).
    sa, sb = stats_frame(ma), stats_frame(mb)
    stats = None
    if sa is not None and sb is not None:
        keys = [k for k in _KEYS if k in sa.columns and k in sb.columns]
        joined = sa.join(sb, on=keys, how="full", coalesce=True, suffix="_b").sort(keys)
        shared = [c for c in sa.columns if c not in keys and f"{c}_b" in joined.columns]
        numeric = [
            c for c in shared if joined.schema[c].is_numeric() and joined.schema[f"{c}_b"].is_numeric()
        ]
        ordered = keys + [x for c in shared for x in (c, f"{c}_b")]
        joined = joined.select(ordered).rename({c: f"{c}_a" for c in shared})
        deltas = [
            (pl.col(f"{c}_b") - pl.col(f"{c}_a")).alias(f"Δ{c}") for c in numeric if c in ("rows", "tokens")
        ]
        stats = joined.with_columns(deltas).to_dicts()
    return {
        "a": {"ref": a.ref, "fingerprint": a.fingerprint},
        "b": {"ref": b.ref, "fingerprint": b.fingerprint},
        "recipe_diff": recipe_diff,
        "lineage": lineage,
        "stats": stats,
    }


def diff_text(a: DatasetVersion, b: DatasetVersion) -> str:
    d = diff_data(a, b)
    lines = [f"{a.ref} ({a.fingerprint[:12]})  vs  {b.ref} ({b.fingerprint[:12]})", ""]
    lines += ["Recipe:", "\n".join(d["recipe_diff"]) or "  (identical)", ""]
    changed = [f"  {key}: {_inline(v['a'])}  ->  {_inline(v['b'])}" for key, v in d["lineage"].items()]
    lines += ["Lineage:", *(changed or ["  (identical)"]), ""]
    lines.append("Statistics (a | b):")
    lines.append(table(pl.DataFrame(d["stats"])) if d["stats"] else "  (not recorded for both)")
    return "\n".join(lines)
