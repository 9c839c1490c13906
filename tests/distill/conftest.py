from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.distill.tiny_dataset import build_tiny_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_teacher, shared_data) -> Path:
    """Teacher samples at T=0.7 (2 per prompt, top-8 log-probs), 32 train / 8 validation prompts."""
    return build_tiny_dataset(tmp_path_factory.mktemp("tiny_ds") / "ds", tiny_teacher, shared_data, [0.7])


def base_config(
    dataset_dir: Path, teacher_dir: Path, output_dir: Path, mode: str = "seqkd", **sections: Any
) -> dict[str, Any]:
    """A small valid config; each keyword (a section name) updates that section (replaces `draft`)."""
    cfg: dict[str, Any] = {
        "dataset": {"id": str(dataset_dir), "config": "t0_7", "split": "train"},
        "teacher": {"model": str(teacher_dir)},
        "draft": {"init": "first_n_layers", "num_layers": 1},
        "loss": {"mode": mode},
        "optim": {"lr": 3e-3, "batch_size": 8, "max_steps": 30, "warmup_steps": 2, "max_length": 224},
        "run": {"output_dir": str(output_dir), "seed": 0, "log_every": 10},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) and key != "draft" else value
    return cfg


@pytest.fixture
def write_config(tmp_path, tiny_dataset, tiny_teacher):
    """write_config(mode, **section_overrides) -> path of a distill config YAML on the tiny dataset."""

    def write(mode: str = "seqkd", name: str = "distill.yaml", **sections: Any) -> Path:
        path = tmp_path / name
        path.write_text(
            yaml.safe_dump(base_config(tiny_dataset, tiny_teacher, tmp_path / "draft", mode, **sections))
        )
        return path

    return write
