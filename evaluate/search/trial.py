"""One candidate end to end, with the product's own steps: compose from the pool -> distill -> score.

Each trained draft lives in `<output_dir>/candidates/<key>/`, key = hash of everything that decides it
(weights, pool, rows, steps, its training seed, distill config and overrides; a candidate trained with
several `seeds` has one folder per seed): `recipe.yaml`, `data/` (the composed
mixture), `draft/` (the trained draft and its card), `log.txt` (what compose and distill printed) and
`result.json`, written last. A rerun finds `result.json` and reuses it (an interrupted search resumes
where it stopped); a search for other serving temperatures in the same output_dir reuses the drafts and
only scores them again. With `parallel_trainings` > 1 the seeds of a candidate train side by side in
spawned processes (same folders, same drafts); `.train.lock` keeps two trainings out of one folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout

from core.environ import environment_set
from core.hardware import allowed_cpus
from core.names import DRAFT_CARD_FILE
from core.provenance import recorded_command
from evaluate.search.candidates import Candidate, pool_recipe
from evaluate.search.config import SearchConfig
from registry.dataset import MANIFEST, MIXTURE_CONFIG, config_files


@dataclass
class Trial:
    candidate: Candidate
    folder: Path
    seed: int  # the replicate's seed: which pool rows are composed and distill's run.seed

    @property
    def draft(self) -> Path:
        return self.folder / "draft"

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"


def candidate_key(cfg: SearchConfig, c: Candidate, pool_id: str, seed: int) -> str:
    """Hash of what decides the draft; `pool_id` is the pinned version (name@vN), so a rebuilt pool
    never reuses drafts trained on the old one. `seed` sits where `cfg.seed` sat before replicates
    existed, so folders of one-seed searches keep their keys."""
    distill = Path(cfg.distill).expanduser().read_text()
    blob = json.dumps(
        [
            sorted(c.weights.items()),
            pool_id,
            cfg.budget.train_rows,
            cfg.budget.max_steps,
            seed,
            distill,
            cfg.distill_overrides,
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def scoring_key(cfg: SearchConfig, pool_id: str, c: float | None) -> dict[str, Any]:
    """What a stored score depends on besides the draft: reused only when all of it matches, the cost
    ratio it was scored with included (a search never ranks candidates under two different c's)."""
    return {
        "pool": pool_id,
        "serving": cfg.serving.model_dump(mode="json"),
        "k_max": cfg.k_max,
        "c": None if c is None else round(c, 6),
        "cache": cfg.cache,
        "compile": cfg.compile,
        "eval_prompts": cfg.budget.eval_prompts,
        "seed": cfg.seed,
        "weighting": "steps",
    }


def trial_for(cfg: SearchConfig, c: Candidate, pool_id: str, seed: int) -> Trial:
    folder = Path(cfg.output_dir).expanduser() / "candidates" / candidate_key(cfg, c, pool_id, seed)
    return Trial(c, folder, seed)


def compose(cfg: SearchConfig, trial: Trial, pool_id: str) -> Path:
    """`builders run` of the candidate's pool recipe into the trial folder (no teacher sampling)."""
    from builders.build import run_build
    from builders.recipe import Recipe

    data = pool_recipe(
        trial.candidate,
        f"{cfg.name}-{trial.folder.name}",
        pool_id,
        cfg.budget.train_rows,
        trial.seed,
    )
    (trial.folder / "recipe.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    recipe = Recipe.model_validate({**data, "output": {"dir": str(trial.folder / "data")}})
    result = run_build(
        recipe,
        trial.folder,
        recorded_command("python -m builders", ["run", str(trial.folder / "recipe.yaml")]),
    )
    assert result.path is not None
    return result.path


def distill_draft(cfg: SearchConfig, trial: Trial, data: Path) -> Path:
    """`distill train` of the base config on the composed mixture; an unfinished draft folder is redone."""
    from distill.checks import check
    from distill.config import load_config
    from distill.train import train

    if trial.draft.exists() and not (trial.draft / DRAFT_CARD_FILE).is_file():
        shutil.rmtree(trial.draft)  # killed mid-training: start this candidate's training again
    overrides = [
        *cfg.distill_overrides,
        f"dataset.id={data}",
        "dataset.config=mixture",
        "dataset.split=train",
        f"run.output_dir={trial.draft}",
        f"run.name={trial.candidate.label}",
        f"run.seed={trial.seed}",
        f"optim.max_steps={cfg.budget.max_steps}",
        "optim.epochs=null",
    ]
    if not config_files(data, MIXTURE_CONFIG, "validation"):
        # A small mixture can draw no row of the pool's held-out prompts: train the whole budget instead of
        # stopping early on a split that does not exist (the card says so: no learning curve).
        overrides += ["run.eval_split=null", "run.eval_every=null", "run.early_stopping=null"]
    dcfg = load_config(cfg.distill, overrides)
    setup = check(dcfg, origin=cfg.distill)
    command = recorded_command(
        "python -m distill", ["train", cfg.distill, *(x for o in overrides for x in ("--set", o))]
    )
    return train(setup, command)


def run_trial(cfg: SearchConfig, trial: Trial, pool_id: str) -> Path:
    """Compose and train (quietly: their output goes to the trial's log.txt); returns the draft folder.
    Under the trial's lock: a second search on the same folder (or a worker left running by a killed one)
    waits for this draft instead of training it again into the same folder."""
    trial.folder.mkdir(parents=True, exist_ok=True)
    with (
        _training_lock(trial),
        open(trial.folder / "log.txt", "a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        data = trial.folder / "data"
        if not (data / MANIFEST).is_file():
            shutil.rmtree(data, ignore_errors=True)
            data = compose(cfg, trial, pool_id)
        if not (trial.draft / DRAFT_CARD_FILE).is_file():
            distill_draft(cfg, trial, data)
    return trial.draft


def train_side_by_side(cfg: SearchConfig, trials: list[Trial], pool_id: str) -> None:
    """Train the drafts of `trials` not trained yet, `cfg.parallel_trainings` at a time, each in a spawned
    process (CUDA cannot be forked); nothing to do with parallel_trainings 1 (run_trial trains in turn).
    A failed training is raised naming its trial once the others have finished (their drafts are kept)."""
    todo = [t for t in trials if not (t.draft / DRAFT_CARD_FILE).is_file()]
    workers = min(cfg.parallel_trainings, len(todo))
    if workers < 2:
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = str(max(1, len(allowed_cpus()) // workers))  # the cores are shared
    spawn = multiprocessing.get_context("spawn")
    # spawned workers read these when torch and polars start: each gets its share of the cores
    threading_env = {name: threads for name in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "RAYON_NUM_THREADS")}
    with environment_set(threading_env), ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        jobs = {pool.submit(run_trial, cfg, t, pool_id): t for t in todo}
        for job in as_completed(jobs):
            if (error := job.exception()) is not None:
                raise RuntimeError(f"training {jobs[job].folder} failed: {error}") from error


@contextlib.contextmanager
def _training_lock(trial: Trial) -> Iterator[None]:
    """The trial's .train.lock, saying so when another process holds it (it trains there: wait for it)."""
    lock = FileLock(trial.folder / ".train.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"[search] {trial.folder}: another process trains it; waiting", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def read_result(trial: Trial, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result when it was scored the way this search scores (else the draft is scored again)."""
    if key["c"] is None or not trial.result_file.is_file():
        return None
    result = json.loads(trial.result_file.read_text())
    if any("per_prompt" not in t for t in result["search"]["per_temperature"]):
        return None  # scored before per-prompt sums were kept (the paired comparisons need them)
    return result if result.get("scoring") == json.loads(json.dumps(key)) else None


def write_result(trial: Trial, result: dict[str, Any]) -> None:
    tmp = trial.result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(trial.result_file)  # a result file is complete or absent
