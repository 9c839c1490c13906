"""Distill under `torchrun --nproc_per_node=2` with gloo on CPU (distill/distributed.py, `run.parallel`).

    .venv/bin/python -m pytest -m integration tests/distill/test_torchrun.py

- optimizer steps through `ParallelDraft` (DDP): both ranks end with identical weights, equal to one
  process taking the same steps on the whole batches (rows of unequal length, so the token weighting
  across ranks matters);
- `torchrun -m distill train`: rank 0 writes the draft and its card, and the weights match a
  one-process run of the same config.

This file is also the rank program of the first test (`torchrun tests/distill/test_torchrun.py OUT`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
VOCAB, PAD, STEPS, ROWS = 96, 0, 3, 6


def _tiny_draft() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=PAD,
    )
    return LlamaForCausalLM(config)


def _global_batches() -> list[list]:
    """STEPS global batches of ROWS examples; response lengths vary so ranks hold unequal token counts."""
    from distill.data import Example

    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(STEPS):
        rows = []
        for _ in range(ROWS):
            prompt = int(torch.randint(2, 6, (), generator=g))
            response = int(torch.randint(1, 12, (), generator=g))
            ids = torch.randint(1, VOCAB, (prompt + response,), generator=g).tolist()
            rows.append(Example(input_ids=ids, prompt_len=prompt, temperature=1.0))
        batches.append(rows)
    return batches


def _train(draft: torch.nn.Module, model: Any, shard: Callable[[list], list]) -> None:
    """STEPS optimizer steps of seqkd, the trainer's own step function, on this process's share of rows."""
    from distill.data import collate
    from distill.step import Objective, optimizer_step

    optimizer = torch.optim.AdamW(draft.parameters(), lr=1e-2)
    for rows in _global_batches():
        micro = [collate(shard(rows), PAD)]
        if hasattr(model, "weigh"):
            model.weigh(micro)
        cpu = torch.device("cpu")
        optimizer_step(micro, model, None, Objective("seqkd"), optimizer, VOCAB, cpu, None, 1.0)


def _flat(draft: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in draft.parameters()])


def _rank_main(out: Path) -> None:
    import torch.distributed as dist

    from distill import distributed

    torch.set_num_threads(1)
    ranks = distributed.init_from_torchrun(torch.device("cpu"))
    assert ranks is not None and ranks.world == 2
    draft = _tiny_draft()
    parallel = distributed.ParallelDraft(draft, VOCAB, ranks, "ddp")
    _train(draft, parallel, lambda rows: distributed.shard(rows, ranks))
    mine = _flat(draft)
    everyone = [torch.zeros_like(mine) for _ in range(ranks.world)]
    dist.all_gather(everyone, mine)
    if ranks.is_main:
        torch.save(everyone, out)
    distributed.close(ranks)


def _torchrun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TORCHRUN, "--standalone", "--nproc_per_node=2", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.integration
def test_ddp_steps_identical_on_both_ranks_and_equal_one_process(tmp_path):
    done = _torchrun(__file__, str(tmp_path / "weights.pt"))
    assert done.returncode == 0, done.stderr[-4000:]
    rank0, rank1 = torch.load(tmp_path / "weights.pt")
    assert torch.equal(rank0, rank1)  # all-reduced gradients, same optimizer: bit-identical ranks

    torch.set_num_threads(1)
    draft = _tiny_draft()
    _train(draft, draft, lambda rows: rows)  # one process, whole batches
    assert not torch.equal(_flat(draft), _flat(_tiny_draft())), "the steps should move the weights"
    torch.testing.assert_close(rank0, _flat(draft), rtol=1e-4, atol=1e-5)  # summation order only


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_torchrun_distill_train_matches_one_process(mode, write_config, tmp_path):
    from safetensors.torch import load_file

    optim = {"max_steps": 3, "batch_size": 8}
    # Held-out evaluations every step and a bf16 save exercise the rank-0 scoring and the dtype cast.
    run = {"save_dtype": "bfloat16", "eval_split": "validation", "eval_every": 1}
    two = write_config(
        "seqkd",
        name="two.yaml",
        optim=optim,
        run={**run, "output_dir": str(tmp_path / "two"), "parallel": mode},
    )
    one = write_config(
        "seqkd", name="one.yaml", optim=optim, run={**run, "output_dir": str(tmp_path / "one")}
    )
    done = _torchrun("-m", "distill", "train", "--config", str(two))
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "two" / "tempdraft-draft.json").is_file()
    assert not list((tmp_path / "two").glob("*.tmp*"))
    single = subprocess.run(
        [sys.executable, "-m", "distill", "train", "--config", str(one)],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-4000:]
    a = load_file(tmp_path / "two" / "model.safetensors")
    b = load_file(tmp_path / "one" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == torch.bfloat16
        torch.testing.assert_close(a[k].float(), b[k].float(), rtol=1e-2, atol=1e-3)  # bf16 rounding
    assert json.loads((tmp_path / "two" / "config.json").read_text())["dtype"] == "bfloat16"
    curves = [
        json.loads((tmp_path / d / "tempdraft-draft.json").read_text())["eval"]["curve"]
        for d in ("two", "one")
    ]
    assert [e["step"] for e in curves[0]] == [0, 1, 2, 3]
    assert [e["loss"] for e in curves[0]] == pytest.approx([e["loss"] for e in curves[1]], rel=1e-4)


if __name__ == "__main__":  # a rank of the first test, started by torchrun
    _rank_main(Path(sys.argv[1]))
