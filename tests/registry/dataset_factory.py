"""Write a small, real dataset folder in the builder's layout, without running a teacher.

Stand-in for `builders.build` in registry tests: same layout (manifest.json, README.md via
`registry.card.write_card`, `data/<config>/<split>-00000-of-00001.parquet`), a few rows each.
Swap for the real builder once it lands.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from builders.requests import temperature_tag
from registry.card import write_card
from registry.dataset import Manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(temperature: float, split: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "request_id": [f"{split}-{i}-t{temperature}" for i in range(n)],  # what mixtures key on
            "prompt_id": [f"{split}-{i}" for i in range(n)],
            "source": ["unit"] * n,
            "prompt": [f"What is {i} + {i}?" for i in range(n)],
            "response": [f"{2 * i}" for i in range(n)],
            "response_token_ids": [[10 + i, 11, 12] for i in range(n)],
            "temperature": [temperature] * n,
            "top_p": [1.0] * n,
            "seed": list(range(n)),
            "sample_index": [0] * n,
            "finish_reason": ["stop"] * n,
            "num_tokens": [3] * n,
        }
    )


def make_dataset_folder(
    parent: Path,
    name: str = "toy",
    temperatures: tuple[float, ...] = (0.0, 0.7, 1.0),
    rows: int = 3,
    mixture: bool = True,
    recipe_extra: dict[str, Any] | None = None,
) -> Path:
    """Write `<parent>/<name>-<fingerprint[:8]>/` and return it. The fingerprint hashes the recipe."""
    recipe: dict[str, Any] = {
        "name": name,
        "teacher": {"model": "tiny-teacher"},
        "sampling": {"temperatures": list(temperatures), "max_new_tokens": 8},
        **(recipe_extra or {}),
    }
    fingerprint = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    folder = parent / f"{name}-{fingerprint[:8]}"
    folder.mkdir(parents=True)

    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for t in temperatures:
        frames[temperature_tag(t)] = {
            "train": _rows(t, "train", rows),
            "validation": _rows(t, "validation", max(1, rows // 2)),
        }
    if mixture:
        frames["mixture"] = {
            split: pl.concat([f[split] for f in list(frames.values())]).head(rows * 2)
            for split in ("train", "validation")
        }

    files: dict[str, str] = {}
    stats: list[dict[str, Any]] = []
    for config, splits in frames.items():
        for split, df in splits.items():
            rel = f"data/{config}/{split}-00000-of-00001.parquet"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            df.write_parquet(folder / rel)
            files[rel] = _sha256(folder / rel)
            if config != "mixture":
                stats.append(
                    {
                        "temperature": float(df["temperature"][0]),
                        "split": split,
                        "rows": df.height,
                        "tokens": int(df["num_tokens"].sum()),
                        "mean_tokens": float(df["num_tokens"].mean()),  # type: ignore[arg-type]
                    }
                )

    manifest: dict[str, Any] = {
        "name": name,
        "fingerprint": fingerprint,
        "recipe": recipe,
        "command": f"python -m builders run recipes/{name}.yaml",
        "teacher": {"name": "tiny-teacher", "path": "/tmp/tiny", "revision": "abc123", "source": "local"},
        "tokenizer": {"name_or_path": "tiny-teacher", "vocab_size": 1024, "chat_template_sha256": "0" * 64},
        "backend": {"name": "transformers", "version": "5.16.1"},
        "versions": {"tempdraft": "0.1.0", "datasets": "5.2.0"},
        "temperatures": list(temperatures),
        "configs": list(frames),
        "counts": {c: {s: df.height for s, df in sp.items()} for c, sp in frames.items()},
        "stats": stats,
        "files": files,
        "created_at": "2025-01-01T00:00:00Z",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    write_card(folder, Manifest.model_validate(manifest))
    return folder
