"""The sampling stage: requests -> resumable Parquet shards in a work folder.

Requests are cut into fixed shards (`output.shard_size`, prompt-major order). A shard is one engine
call and the unit of resume: it is written atomically once complete, so after a crash (even kill -9)
a rerun skips every finished shard and redoes the one in flight -- no row lost, none duplicated. A
shard always holds the same requests, so it always forms the same batches and, seeded per request,
gives the same rows on the same machine and backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from builders.backends.base import Backend, ProgressFn, SampleRequest, SampleResult
from builders.progress import Progress
from builders.requests import PlannedRequest
from builders.rows import schema, write_parquet_atomic
from core.faults import fault_point


def shard_path(work: Path, index: int) -> Path:
    return work / "shards" / f"shard-{index:05d}.parquet"


def _complete(path: Path, expected_ids: list[str]) -> bool:
    if not path.is_file():
        return False
    try:
        ids = pl.read_parquet(path, columns=["request_id"])["request_id"].to_list()
    except Exception:  # unreadable: treat as not done, it will be rewritten
        return False
    return sorted(ids) == sorted(expected_ids)


def _row(req: PlannedRequest, prompt_ids: list[int], res: SampleResult, top_p: float, decode: Callable) -> dict:
    row = {
        "request_id": req.request_id, "prompt_id": req.prompt.prompt_id, "source": req.prompt.source,
        "prompt": req.prompt.prompt, "messages": req.prompt.messages_dicts(), "prompt_token_ids": prompt_ids,
        "response": decode(res.token_ids), "response_token_ids": res.token_ids, "temperature": req.temperature,
        "top_p": top_p, "seed": req.seed, "sample_index": req.sample_index, "finish_reason": res.finish_reason,
        "num_tokens": len(res.token_ids),
    }
    if res.topk_token_ids is not None:
        row["topk_token_ids"] = res.topk_token_ids
        row["topk_logprobs"] = res.topk_logprobs
    return row


@dataclass
class ShardPlan:
    shards: list[list[PlannedRequest]]  # the requests cut into fixed shards, prompt-major
    paths: list[Path]  # where each shard is written in the work folder
    pending: list[int]  # indexes of the shards not yet complete there
    done_rows: int  # rows already in complete shards


def plan_shards(requests: list[PlannedRequest], work: Path, shard_size: int) -> ShardPlan:
    """Cut the requests into shards and find the ones a previous run left unfinished. The same requests
    always give the same shards, hence the same engine batches, whichever executor samples them."""
    shards = [requests[i : i + shard_size] for i in range(0, len(requests), shard_size)]
    paths = [shard_path(work, i) for i in range(len(shards))]
    pending = [i for i, reqs in enumerate(shards) if not _complete(paths[i], [r.request_id for r in reqs])]
    done_rows = len(requests) - sum(len(shards[i]) for i in pending)
    if done_rows:
        print(f"[build] resuming: {len(shards) - len(pending)}/{len(shards)} shards ({done_rows} rows) "
              "already done", file=sys.stderr)
    return ShardPlan(shards, paths, pending, done_rows)


def sample_shard(
    backend: Backend, reqs: list[PlannedRequest], prompt_ids: Mapping[str, list[int]], max_new_tokens: int,
    top_p: float, topk: int, decode: Callable, progress: ProgressFn | None = None,
) -> pl.DataFrame:
    """One shard in one engine call; its rows, in request order, ready for `write_parquet_atomic`."""
    engine_reqs = [
        SampleRequest(r.request_id, tuple(prompt_ids[r.prompt.prompt_id]), r.temperature, top_p, r.seed,
                      max_new_tokens, topk)
        for r in reqs
    ]
    results = backend.generate(engine_reqs, progress)
    rows = [_row(r, prompt_ids[r.prompt.prompt_id], res, top_p, decode)
            for r, res in zip(reqs, results, strict=True)]
    return pl.DataFrame(rows, schema=schema(topk > 0))


def sample_shards(
    requests: list[PlannedRequest], work: Path, shard_size: int, prompt_ids: dict[str, list[int]],
    make_backend: Callable[[], Backend], max_new_tokens: int, top_p: float, topk: int, decode: Callable,
) -> tuple[list[Path], float]:
    """Sample every pending shard; return all shard paths and the generation tokens/s of this run.
    The engine is created only when a shard is pending and always closed (its worker processes too)."""
    plan = plan_shards(requests, work, shard_size)
    if not plan.pending:
        return plan.paths, 0.0
    backend = make_backend()
    progress = Progress(len(requests), plan.done_rows)
    try:
        for i in plan.pending:
            rows = sample_shard(backend, plan.shards[i], prompt_ids, max_new_tokens, top_p, topk, decode,
                                progress)
            write_parquet_atomic(rows, plan.paths[i])
            fault_point(f"shard-{i}")
    finally:
        progress.close()
        backend.close()
    return plan.paths, progress.tokens_per_second()
