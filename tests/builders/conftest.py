from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run_builder(recipe: Path, env: dict[str, str] | None, *extra: str, timeout: float = 600):
    """`python -m builders run RECIPE [extra]` in a child process from the project root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "builders", "run", str(recipe), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_recipe(teacher: Path, shared_data: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "name": "tiny",
        "seed": 3,
        "teacher": {"model": str(teacher), "dtype": "float32"},
        "sources": [
            {"kind": "file", "path": str(shared_data / "gsm8k/train.jsonl"), "prompt_column": "question", "limit": 10},
            {"kind": "file", "path": str(shared_data / "mt_bench/question.jsonl"), "prompt_column": "turns", "limit": 4},
        ],
        "sampling": {"temperatures": [0.0, 0.7, 1.0], "samples_per_prompt": 2, "max_new_tokens": 16},
        "engine": {"backend": "transformers", "batch_size": 8},
        "output": {"dir": str(out), "shard_size": 12, "validation_fraction": 0.25},
    }
    for key, value in overrides.items():
        recipe[key] = value
    return recipe


@pytest.fixture
def write_recipe(tmp_path, tiny_teacher, shared_data):
    """write_recipe(**top_level_overrides) -> path of a tiny recipe YAML sampling the tiny teacher."""

    def write(name: str = "recipe.yaml", **overrides: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_recipe(tiny_teacher, shared_data, tmp_path / "out", **overrides)))
        return path

    return write
