"""Run a recipe end to end: prompts -> requests -> engine -> shards -> dataset folder.

    python -m builders run recipes/mix_high_temp.yaml [--set key=value ...] [--dry-run]

Writes `$TEMPDRAFT_HOME/builds/<name>-<fingerprint12>/` (or `output.dir`): Parquet configs per
temperature (+ mixture), `manifest.json` (resolved recipe, command, teacher and revision, versions,
counts and statistics) and a dataset card; by default it is then registered (moved into the catalog's
store). Work in progress lives in `<out>.work/`, owned by one process at a time (builders/workdir.py):
a rerun after a kill at any point resumes it, and a second identical build waits for the first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from builders.backends.factory import backend_name
from builders.check import load_pool_rows, plan_requests, plan_summary
from builders.recipe import Recipe
from builders.requests import PlannedRequest
from builders.workdir import claim
from core.errors import TempdraftError
from core.faults import fault_point
from core.hardware import allowed_cpus, resolve_cpu_threads, resolve_dtype
from core.home import tempdraft_home
from core.provenance import mask_secrets, package_version, versions
from core.public import public_manifest
from core.teacher import ResolvedTeacher, resolve_teacher
from registry.catalog import now
from registry.dataset import MANIFEST, Manifest, manifest_fingerprint, read_manifest
from registry.licenses import manifest_license
from registry.versions import find_version, register_build

# Modules whose code decides what the rows contain: part of the fingerprint. Not ray_executor.py: it only
# moves shards cut by `sample.plan_shards` and sampled by `sample.sample_shard` between driver and actors,
# and the executor is kept out of the fingerprint so that Ray and local runs share versions (see below).
_ROW_CODE = ("requests.py", "sources.py", "sample.py", "rows.py", "mixture.py", "assemble.py",
             "backends/base.py", "backends/hf.py", "backends/vllm.py")


@dataclass
class BuildResult:
    path: Path | None  # None on a dry run
    fingerprint: str | None
    rows: int
    stats: pl.DataFrame | None = None
    reused: bool = False
    version: str | None = None  # name@vN when registered in the catalog


def code_version() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _ROW_CODE:
        f = here / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    package = package_version("tempdraft") or "source"  # "source": a source tree never pip-installed
    return f"{package}+{h.hexdigest()[:12]}"


def fingerprint(recipe: Recipe, teacher_revision: str | None, pool_fingerprint: str | None = None) -> str:
    # executor: where shards are sampled never changes which rows (docs/design-notes.md), so a Ray run
    # and a local run of one recipe share a fingerprint, a work folder to resume from and a catalog version.
    # license, language: card metadata only, never a row. limits only bound what may be planned.
    excluded = {"description": True, "output": {"dir"}, "executor": True, "license": True, "language": True,
                "limits": True}
    resolved = recipe.model_dump(mode="json", exclude=excluded)
    # engine.cpu_threads binds vLLM-CPU's threads: rows agree across bindings as often as two runs of one
    # binding agree (262 of 264 either way, benchmarks/README.md), so like the executor it never changes
    # the fingerprint. Hashed as 'default', the value every recipe had before 'auto' existed, so versions
    # built then keep their fingerprints.
    resolved["engine"]["cpu_threads"] = "default"
    blob = json.dumps({"recipe": resolved, "teacher": teacher_revision, "pool": pool_fingerprint,
                       "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _manifest(recipe: Recipe, fp: str, command: str, lineage: dict[str, Any], contents: dict[str, Any]
              ) -> Manifest:
    """The dataset's manifest (registry/dataset.py): identity and command, `lineage` (teacher, tokenizer,
    backend; or the pool composed from), then `contents` (versions, temperatures, counts, statistics,
    license). Published as is by `registry push`, so it holds no local path (core/public.py) and no token
    (masked here too, whoever recorded the command)."""
    return Manifest.model_validate(public_manifest({
        "name": recipe.name, "fingerprint": fp, "created_at": now(),
        "command": mask_secrets(command), "recipe": recipe.model_dump(mode="json"),
        "code_version": code_version(), **lineage, "seed": recipe.seed, **contents,
    }))


def _versions(backend_version: str | None) -> dict[str, str]:
    out = versions(("tempdraft", "torch", "transformers", "datasets", "polars", "vllm", "vllm-cpu"))
    if backend_version:
        out["backend"] = backend_version
    return out


plan = plan_requests  # prompts -> requests, bounded, mixture checked: the same function `validate` runs


def _tokenizer_identity(tokenizer: Any, teacher: ResolvedTeacher) -> dict[str, Any]:
    template = tokenizer.chat_template or ""
    return {"name_or_path": teacher.public_dict()["name"], "vocab_size": len(tokenizer),
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest()}


def _output_dir(recipe: Recipe, fp: str) -> Path:
    if recipe.output.dir:
        return Path(recipe.output.dir).expanduser()
    return tempdraft_home() / "builds" / f"{recipe.name}-{fp[:12]}"


def sample_pool(recipe: Recipe, requests: list[PlannedRequest], teacher: ResolvedTeacher, work: Path
                ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Sample (or resume) every request; return the rows and the engine/tokenizer facts for the manifest."""
    from transformers import AutoTokenizer

    from builders.backends.base import render_prompt, stop_token_ids
    from builders.backends.factory import create_backend
    from builders.sample import sample_shards

    assert recipe.teacher is not None and recipe.sampling is not None
    tokenizer = AutoTokenizer.from_pretrained(teacher.path)
    stops = stop_token_ids(tokenizer, teacher.path)
    prompt_ids = {}
    for r in requests:
        if r.prompt.prompt_id not in prompt_ids:
            prompt_ids[r.prompt.prompt_id] = render_prompt(tokenizer, r.prompt.messages_dicts())
    backend_info: dict[str, Any] = {}

    def make_backend():
        backend = create_backend(recipe.engine, teacher.path, recipe.teacher.dtype, stops, tokenizer.pad_token_id,
                                 recipe.seed)
        backend_info.update(name=backend.name, version=backend.version(), logprobs_mode=backend.logprobs_mode())
        return backend

    t0 = time.perf_counter()
    if recipe.executor.kind == "ray":  # the same shards, sampled by a Ray actor pool
        from builders.ray_executor import sample_shards_on_ray

        paths, ray_info, tok_s = sample_shards_on_ray(recipe, requests, teacher, work, prompt_ids, stops,
                                                      tokenizer.pad_token_id)
        backend_info.update(ray_info)
    else:
        paths, tok_s = sample_shards(
            requests, work, recipe.output.shard_size, prompt_ids, make_backend,
            recipe.sampling.max_new_tokens, recipe.sampling.top_p, recipe.sampling.topk_logprobs,
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        )
    # A resumed build from shards alone: remember which engine wrote them.
    info_file = work / "backend.json"
    if backend_info:
        info_file.write_text(json.dumps(backend_info))
    elif info_file.is_file():
        backend_info = json.loads(info_file.read_text())
    backend_info["sampling_seconds_this_run"] = round(time.perf_counter() - t0, 2)
    backend_info["tokens_per_second_this_run"] = round(tok_s, 1)
    rows = pl.concat([pl.read_parquet(p) for p in paths], how="vertical")
    meta = {"backend": backend_info, "tokenizer": _tokenizer_identity(tokenizer, teacher),
            "stop_token_ids": stops}
    return rows, meta


def run_build(recipe: Recipe, base_dir: Path, command: str, dry_run: bool = False) -> BuildResult:
    """Build `recipe` (relative source paths resolve against `base_dir`). `command` is the line the manifest
    records, as the CLI makes it: `recorded_command("python -m builders", argv)` (core/provenance.py)."""
    from builders.assemble import assemble_dataset, assign_split
    from builders.stats import dataset_stats, format_table

    # The catalog's name rule (core/names.py) was checked by the recipe schema, before anything is sampled.
    if recipe.pool is not None:
        return _compose_from_pool(recipe, command, dry_run)
    requests = plan(recipe, base_dir)  # 1. prompts, requests, mixture fit: cheap, no model
    print(plan_summary(recipe, requests))
    if dry_run:
        return BuildResult(None, None, len(requests))
    assert recipe.teacher is not None
    recipe = _with_resolved_machine(recipe)
    teacher = resolve_teacher(recipe.teacher.model, recipe.teacher.revision)  # 2. teacher identity -> fingerprint
    fp = fingerprint(recipe, teacher.revision)

    def sample_and_assemble(out: Path, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        (work / "fingerprint").write_text(fp)
        rows, meta = sample_pool(recipe, requests, teacher, work)  # 3. sample, resumable
        rows = assign_split(rows, recipe.output.validation_fraction, recipe.seed)
        mixture_rows = _mixture(recipe, rows)
        stats = dataset_stats(rows)
        manifest = _manifest(recipe, fp, command, {"teacher": teacher.public_dict(), **meta}, {
            "versions": _versions(meta["backend"].get("version")),
            "temperatures": sorted(set(rows["temperature"])),
            "counts": _counts(rows, mixture_rows), "stats": stats.to_dicts(),
            "mixture_stats": dataset_stats(mixture_rows).to_dicts() if mixture_rows is not None else None,
            **manifest_license(recipe.model_dump(mode="json")),
        })
        assemble_dataset(rows, mixture_rows, out, manifest)  # 4. write, then rename
        print(format_table(stats))
        if mixture_rows is not None:
            print("[mixture]\n" + format_table(dataset_stats(mixture_rows)))

    return _build_once(recipe, fp, sample_and_assemble)  # 5. register


def _build_once(recipe: Recipe, fp: str, make: Callable[[Path, Path], None]) -> BuildResult:
    """Build the dataset of fingerprint `fp` unless it exists. `make(out, work)` samples into `work` and
    assembles `out` with one final rename. Safe to kill at any point and to run twice at once: under the
    build lock (builders/workdir.py) an identical finished build is returned, a folder a killed run had
    assembled is registered as it is, and the work folder goes only once the result is registered."""
    out = _output_dir(recipe, fp)
    with claim(out) as work:  # a second identical build waits here, then finds the first one's result
        result = _existing(recipe, fp, out)
        if result is None:
            if _assembled(recipe, fp, out):
                print(f"[build] registering {out}, assembled by a run that stopped before", file=sys.stderr)
            else:
                make(out, work)
                fault_point("renamed")
            result = _publish(recipe, out, fp)
            fault_point("registered")
        elif recipe.output.dir is None:
            shutil.rmtree(out, ignore_errors=True)  # already registered: what is left here is a stale source
        shutil.rmtree(work, ignore_errors=True)
    return result


def _assembled(recipe: Recipe, fp: str, out: Path) -> bool:
    """Whether `out` holds the complete dataset of `fp`: only the assembly's final rename puts a manifest
    there. A default `out` (under builds/) is ours: anything else found there is removed."""
    if manifest_fingerprint(out) == fp:
        return True
    if recipe.output.dir is None:
        shutil.rmtree(out, ignore_errors=True)
    return False


def _with_resolved_machine(recipe: Recipe) -> Recipe:
    """teacher.dtype and engine.cpu_threads 'auto' replaced by what this machine runs, so the manifest says
    what ran, not 'auto'; the dtype changes the rows and goes into the fingerprint (cpu_threads does not)."""
    assert recipe.teacher is not None
    device = recipe.engine.device
    if getattr(recipe.executor, "gpus_per_actor", 0):  # Ray actors on GPU nodes, whatever the driver runs on
        device = "cuda"
    dtype = resolve_dtype(recipe.teacher.dtype, device)
    gpu = (device or "").startswith("cuda") or (device is None and _cuda_available())
    vllm = backend_name(recipe.engine) == "vllm"
    # the manifest says which binding ran: 'default' where no vLLM-CPU engine binds anything
    threads = resolve_cpu_threads(recipe.engine.cpu_threads, len(allowed_cpus()), gpu or not vllm)
    return recipe.model_copy(update={
        "teacher": recipe.teacher.model_copy(update={"dtype": dtype}),
        "engine": recipe.engine.model_copy(update={"cpu_threads": threads}),
    })


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _existing(recipe: Recipe, fp: str, out: Path) -> BuildResult | None:
    """The finished result of an identical recipe (same fingerprint), if there is one: never build twice."""
    if recipe.output.dir is None:  # the registry, at the start: an identical version is reused
        if (v := find_version(recipe.name, fp)) is not None:
            print(f"[build] already built: {v.ref} ({v.path})", file=sys.stderr)
            return BuildResult(v.path, fp, 0, reused=True, version=v.ref)
        return None
    if (out / MANIFEST).is_file():
        if manifest_fingerprint(out) == fp:
            print(f"[build] already built: {out}", file=sys.stderr)
            return BuildResult(out, fp, 0, reused=True)
        raise TempdraftError(f"{out} holds a different build; choose another output.dir")
    return None


def _publish(recipe: Recipe, out: Path, fp: str) -> BuildResult:
    """Default output: register as name@vN in the catalog (the folder moves into the store). An explicit
    output.dir stays a plain dataset folder where the user asked for it."""
    manifest = read_manifest(out)
    counts = manifest.counts or {}
    rows = counts["rows"] if "rows" in counts else counts["mixture_rows"]
    stats = pl.DataFrame(manifest.stats)
    if recipe.output.dir is not None:
        print(f"[build] wrote {rows} rows -> {out}")
        return BuildResult(out, fp, rows, stats)
    v = register_build(out)  # the registry, at the end: register the new version
    print(f"[build] wrote {rows} rows -> {v.ref} ({v.path})")
    print(f"        load it: datasets.load_dataset('{v.path}', '<config>')  |  python -m registry show {v.ref}")
    return BuildResult(v.path, fp, rows, stats, version=v.ref)


def _counts(rows: pl.DataFrame, mixture_rows: pl.DataFrame | None) -> dict[str, Any]:
    per_t = rows.group_by("temperature").agg(pl.len().alias("rows"), pl.col("num_tokens").sum().alias("tokens"))
    counts: dict[str, Any] = {
        "rows": rows.height, "prompts": rows["prompt_id"].n_unique(), "tokens": int(rows["num_tokens"].sum()),
        "per_temperature": {str(r["temperature"]): {"rows": r["rows"], "tokens": r["tokens"]}
                            for r in per_t.sort("temperature").to_dicts()},
    }
    if mixture_rows is not None:
        counts["mixture_rows"] = mixture_rows.height
    return counts


def _mixture(recipe: Recipe, rows: pl.DataFrame) -> pl.DataFrame | None:
    if recipe.mixture is None:
        return None
    from builders.mixture import compose_mixture

    return compose_mixture(rows, recipe.mixture, recipe.seed)


def _compose_from_pool(recipe: Recipe, command: str, dry_run: bool) -> BuildResult:
    """A recipe with `pool:` composes a mixture from an already-built dataset: no teacher, no engine."""
    from builders.assemble import assemble_dataset
    from builders.mixture import compose_mixture
    from builders.stats import dataset_stats, format_table
    assert recipe.pool is not None
    if recipe.mixture is None:
        raise TempdraftError("a recipe with `pool` composes a mixture: add a `mixture` section")
    _, pool_manifest, rows = load_pool_rows(recipe.pool)
    print(f"[plan] {recipe.name}: composing from {recipe.pool} ({rows.height} rows, "
          f"temperatures {sorted(set(rows['temperature']))})")
    mixture_rows = compose_mixture(rows, recipe.mixture, recipe.seed)
    if dry_run:
        return BuildResult(None, None, mixture_rows.height)
    fp = fingerprint(recipe, (pool_manifest.teacher or {}).get("revision"), pool_manifest.fingerprint)

    def assemble(out: Path, work: Path) -> None:  # nothing to sample: `work` stays unused
        stats = dataset_stats(mixture_rows)
        pool = {"id": recipe.pool, "name": pool_manifest.name, "fingerprint": pool_manifest.fingerprint}
        inherited = pool_manifest.model_dump(include={"teacher", "tokenizer", "backend"}, exclude_unset=True)
        manifest = _manifest(recipe, fp, command, {"pool": pool, **inherited}, {
            "versions": _versions(None),
            "temperatures": sorted(set(mixture_rows["temperature"])),
            "counts": {"mixture_rows": mixture_rows.height, "prompts": mixture_rows["prompt_id"].n_unique()},
            "stats": stats.to_dicts(), **manifest_license(recipe.model_dump(mode="json"), pool_manifest),
        })
        assemble_dataset(None, mixture_rows, out, manifest)
        print(format_table(stats))

    return _build_once(recipe, fp, assemble)
