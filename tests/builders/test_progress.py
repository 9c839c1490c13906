"""Build progress (issue 18): rows, tokens/s and ETA move as rows finish, not once per shard; checked on
the transformers backend with the tiny teacher (it reports once per batch; vLLM's per-request reports are
checked in test_vllm_backend.py)."""

from __future__ import annotations

from builders.backends.base import SampleRequest
from builders.progress import Progress


def test_progress_counts_rows_and_tokens_per_batch(tiny_teacher, capsys) -> None:
    from transformers import AutoTokenizer

    from builders.backends.base import render_prompt, stop_token_ids
    from builders.backends.hf import TransformersBackend

    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    stops = stop_token_ids(tok, str(tiny_teacher))
    backend = TransformersBackend(
        str(tiny_teacher),
        dtype="float32",
        batch_size=4,
        device="cpu",
        stop_ids=stops,
        pad_id=tok.pad_token_id,
    )
    prompt = tuple(render_prompt(tok, [{"role": "user", "content": "What is 3 + 4?"}]))
    requests = [
        SampleRequest(f"r{i}", prompt, temperature=1.0, top_p=1.0, seed=i, max_new_tokens=8, topk_logprobs=0)
        for i in range(10)
    ]
    calls: list[tuple[int, int]] = []
    progress = Progress(total_rows=12, done_rows=2)  # as after a resume: 2 rows were in finished shards

    def record(rows: int, tokens: int) -> None:
        calls.append((rows, tokens))
        progress(rows, tokens)

    results = backend.generate(requests, record)
    progress.close()
    assert [rows for rows, _ in calls] == [4, 4, 2]  # one report per finished batch
    assert sum(t for _, t in calls) == progress.tokens == sum(len(r.token_ids) for r in results)
    assert progress.bar.n == 12
    line = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "12/12" in line and "tok/s" in line
