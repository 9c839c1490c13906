"""A small real dataset for distill tests: the builder samples the tiny teacher on GSM8K questions.

One function, so a test that needs a differently shaped dataset (other temperatures, no top-k)
asks for it here, and a change in how datasets are built is absorbed in one place.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def build_tiny_dataset(
    out: Path,
    teacher: Path,
    shared_data: Path,
    temperatures: list[float],
    *,
    prompts: int = 40,
    samples: int = 2,
    max_new_tokens: int = 40,
    topk: int = 8,
    name: str = "tiny-distill",
    validation_fraction: float = 0.2,
) -> Path:
    """Sample `teacher` with the real builder (transformers backend, fp32) and return the dataset folder."""
    from builders.build import run_build
    from builders.recipe import Recipe

    recipe = Recipe.model_validate(
        {
            "name": name,
            "seed": 5,
            "teacher": {"model": str(teacher), "dtype": "float32"},
            "sources": [
                {
                    "kind": "file",
                    "path": str(shared_data / "gsm8k/train.jsonl"),
                    "prompt_column": "question",
                    "limit": prompts,
                }
            ],
            "sampling": {
                "temperatures": temperatures,
                "samples_per_prompt": samples,
                "max_new_tokens": max_new_tokens,
                "topk_logprobs": topk,
            },
            "engine": {"backend": "transformers", "batch_size": 32},
            "output": {"dir": str(out), "shard_size": 256, "validation_fraction": validation_fraction},
        }
    )
    # Builds write caches under TEMPDRAFT_HOME; keep them beside the dataset, not in the user's home.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEMPDRAFT_HOME", str(out.parent / "home"))
        result = run_build(recipe, out.parent, "python -m builders run tiny-distill-recipe")
    assert result.path is not None
    return result.path
