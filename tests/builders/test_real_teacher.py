"""The real offline teacher (SmolLM2-135M-Instruct from PyPI) sampled through the builder."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from builders.build import run_build
from builders.config import load_recipe


@pytest.mark.slow
def test_smollm2_samples_a_few_prompts(smollm2_teacher, shared_data, tmp_path):
    recipe = {
        "name": "smol", "seed": 0,
        "teacher": {"model": str(smollm2_teacher), "dtype": "bfloat16"},
        "sources": [{"kind": "file", "path": str(shared_data / "gsm8k/test.jsonl"), "prompt_column": "question",
                     "limit": 4}],
        "sampling": {"temperatures": [0.0, 1.0], "max_new_tokens": 24, "topk_logprobs": 5},
        "engine": {"backend": "transformers", "batch_size": 8},
        "output": {"dir": str(tmp_path / "out"), "validation_fraction": 0.25},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = run_build(load_recipe(tmp_path / "r.yaml"), tmp_path, "python -m builders run r.yaml")
    rows = pl.read_parquet(result.path / "data/t*/*.parquet")
    assert rows.height == 8
    assert (rows["num_tokens"] > 0).all()
    # a 135M instruct model answers in English words, not byte soup
    assert rows.filter(pl.col("temperature") == 0.0)["response"].str.contains(r"[A-Za-z]{3,}").all()
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["tokenizer"]["vocab_size"] == 49152
    assert manifest["stop_token_ids"] == [2]  # <|im_end|>


@pytest.mark.slow
def test_offline_alias_resolves_to_converted_safetensors(smollm2_teacher):
    from transformers import AutoConfig

    assert (smollm2_teacher / "model.safetensors").is_file()
    cfg = AutoConfig.from_pretrained(smollm2_teacher)
    assert cfg.num_hidden_layers == 30 and cfg.hidden_size == 576
    assert not hasattr(cfg, "quantization_config") or cfg.quantization_config is None
    marker = json.loads((smollm2_teacher / "tempdraft-teacher.json").read_text())
    assert marker["gguf_sha256"].startswith("b179c952")
