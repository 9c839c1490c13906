"""The recipe search behind `python -m evaluate search SEARCH.yaml`.

    python -m evaluate search evaluate/configs/search_t1.yaml [--set budget.candidates=24]

1. check the config and the pool; split the pool's validation prompts into a search and a confirm half;
2. score the fixed candidates (single temperatures, the greedy one = single T = 0, uniform, mix_high_temp),
   then let an optuna sampler propose mixture weights over the pool's temperatures until `budget.candidates`
   candidates are scored; every candidate is composed from the pool and trained by `distill` once per
   seed in `seeds`, each draft scored by chained acceptance at the serving temperature(s) on the search
   half, the candidate's objective the mean over its seeds;
3. confirm the winner, the best fixed candidate, the best single temperature and the greedy candidate on the
   confirm half; compare every candidate with the greedy candidate and the best single temperature, paired
   (evaluate.search.paired: bootstrap over prompts and seeds);
4. write recipe.yaml (the winner's pool recipe: `python -m builders run` composes it without sampling),
   register it as `name@vN`, copy the winning draft to `draft/`, and write search.json, search.md and
   candidates.png.
Interrupted searches resume: finished candidates keep their result.json and are not trained again.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.errors import TempdraftError
from core.names import DRAFT_CARD_FILE
from core.provenance import recorded_command
from evaluate.config import PROBE_ROUNDS
from evaluate.search.candidates import Candidate, fixed_candidates, normalised
from evaluate.search.config import SearchConfig, pool_problems
from evaluate.search.paired import Bootstrap, baselines, combine, compare
from evaluate.search.score import Cost, EvalSets, load_eval_sets, objective, score_temperature
from evaluate.search.trial import (
    Trial,
    read_result,
    run_trial,
    scoring_key,
    train_side_by_side,
    trial_for,
    write_result,
)


def pinned_pool_id(cfg: SearchConfig, folder: Path) -> str:
    """The pool as a version that will not move (name@latest -> name@vN) for the recipes written."""
    from registry.dataset import read_manifest
    from registry.versions import find_version

    manifest = read_manifest(folder)
    version = find_version(manifest.name, manifest.fingerprint)
    return version.ref if version is not None else cfg.pool


class Scorer:
    """Holds the target and the eval sets; scores draft folders at the serving temperatures."""

    def __init__(self, cfg: SearchConfig, target_id: str, sets: EvalSets):
        from evaluate.sweep import load_model, model_path, resolve_device

        self.cfg, self.sets, self.device = cfg, sets, resolve_device(cfg.device)
        self.target = load_model(model_path(target_id), self.device, "auto")
        self.cost: Cost | None = None if cfg.c == "auto" else Cost(float(cfg.c), {})
        self.cost_probe: dict[str, Any] | None = None
        # A measured c is kept beside the results: a resumed search scores new candidates with the c its
        # stored results were scored with (the probe varies ~25% between runs on one GPU).
        self.probe_file = Path(cfg.output_dir).expanduser() / "cost_probe.json"
        if self.cost is None and self.probe_file.is_file():
            saved = json.loads(self.probe_file.read_text())
            if saved.get("mode") == self._mode():
                self.cost_probe = saved["probe"]
                self.cost = Cost(
                    saved["probe"]["c"], {int(k): v for k, v in saved["probe"]["verify_cost"].items()}
                )

    def _probe_temperature(self) -> float:
        """The highest serving T with traffic: its (sampled) path prices every candidate's steps."""
        return max(t for t, share in self.cfg.serving.shares().items() if share > 0)

    def _mode(self) -> dict[str, Any]:
        """What a saved cost probe must match to be reused on resume."""
        return {
            "cache": self.cfg.cache,
            "compile": self.cfg.compile,
            "k_max": self.cfg.k_max,
            "device": self.device,
            # evaluate/costprobe.py; older folders timed bare forwards, then one round of sampler steps
            "probe": f"sampler steps, median of {PROBE_ROUNDS} rounds",
            "temperature": self._probe_temperature(),
        }

    @property
    def c(self) -> float | None:
        return self.cost.c if self.cost else None

    def score(self, draft_dir: Path, half: str) -> dict[str, Any]:
        from evaluate.costprobe import probe_step_costs
        from evaluate.sweep import load_model

        draft = load_model(str(draft_dir), self.device, "auto")
        samples = self.sets.search if half == "search" else self.sets.confirm
        if self.cost is None:  # one architecture for every candidate: measure once, in the sampler's mode
            prompt = next(iter(samples.values()))[0][1]
            ks = range(1, self.cfg.k_max + 1)
            self.cost_probe = probe_step_costs(
                self.target,
                draft,
                prompt,
                steps=16,
                cache=self.cfg.cache,
                compile_decode=self.cfg.compile,
                verify_ks=ks,
                temperature=self._probe_temperature(),
            )
            self.cost = Cost(self.cost_probe["c"], self.cost_probe["verify_cost"])
            self.probe_file.parent.mkdir(parents=True, exist_ok=True)
            self.probe_file.write_text(json.dumps({"mode": self._mode(), "probe": self.cost_probe}, indent=1))
        shares = self.cfg.serving.shares()
        scores = [
            score_temperature(self.target, draft, samples[t], t, self.cfg.k_max, self.cost, self.cfg.seed)
            for t in shares
        ]
        value, low, high = objective(scores, shares)
        return {
            "objective": value,
            "low": low,
            "high": high,
            "per_temperature": [s.to_dict(self.cost) for s in scores],
        }


def _card_summary(draft: Path) -> dict[str, Any]:
    import json

    card = json.loads((draft / DRAFT_CARD_FILE).read_text())
    training = card.get("result", card).get("training", {})
    keep = ("steps", "seconds", "final_loss", "stopped_early", "best_step", "still_improving")
    return {k: training[k] for k in keep if k in training}


def evaluate_replicate(cfg: SearchConfig, trial: Trial, pool_id: str, scorer: Scorer) -> dict[str, Any]:
    """One seed of a candidate: trained (unless its draft exists) and scored on the search half (unless
    its result.json holds this scoring)."""
    if (done := read_result(trial, scoring_key(cfg, pool_id, scorer.c))) is not None:
        return done
    t0 = time.perf_counter()
    draft = run_trial(cfg, trial, pool_id)
    result = {
        "label": trial.candidate.label,
        "origin": trial.candidate.origin,
        "weights": {f"{t:g}": w for t, w in trial.candidate.weights.items()},
        "folder": trial.folder.name,
        "seed": trial.seed,
        "scoring": None,  # set below: the first candidate's scoring may have measured c
        "training": _card_summary(draft),
        "search": scorer.score(draft, "search"),
        "seconds": time.perf_counter() - t0,
    }
    result["scoring"] = scoring_key(cfg, pool_id, scorer.c)
    write_result(trial, result)
    return result


def evaluate_candidate(
    cfg: SearchConfig, cand: Candidate, pool_id: str, scorer: Scorer, boot: Bootstrap
) -> dict[str, Any]:
    """Every seed of a candidate, and its search-half score: the mean over seeds (evaluate.search.paired)."""
    trials = [trial_for(cfg, cand, pool_id, s) for s in cfg.replicate_seeds()]
    train_side_by_side(cfg, trials, pool_id)  # parallel_trainings > 1: the seeds' drafts, at once
    reps = [evaluate_replicate(cfg, trial, pool_id, scorer) for trial in trials]
    return {
        "label": cand.label,
        "origin": cand.origin,
        "weights": {f"{t:g}": w for t, w in cand.weights.items()},
        "folder": reps[0]["folder"],  # the first seed's draft: the one published when this candidate wins
        "seeds": [r["seed"] for r in reps],
        "training": [r["training"] for r in reps],
        "search": combine(boot, [r["search"] for r in reps]),
        "replicates": reps,
    }


def _propose(trial: Any, grid: list[float]) -> dict[float, float]:
    from builders.requests import temperature_tag

    return {t: trial.suggest_float(f"w_{temperature_tag(t)}", 0.0, 1.0) for t in grid}


def search(cfg: SearchConfig, command: str) -> dict[str, Any]:
    import optuna

    from builders.requests import temperature_tag
    from distill.config import load_config as load_distill

    folder, grid, problems = pool_problems(cfg)
    if problems or folder is None:
        raise TempdraftError("; ".join(m for _, m in problems))
    base = load_distill(cfg.distill, cfg.distill_overrides)
    kd = base.loss.mode
    fixed, notes = fixed_candidates(grid, kd)
    pool_id = pinned_pool_id(cfg, folder)
    shares = cfg.serving.shares()
    sets = load_eval_sets(folder, grid, list(shares), cfg.budget.eval_prompts)
    for half in (sets.search, sets.confirm):
        for t, samples in half.items():
            if not samples:
                raise TempdraftError(
                    f"the pool has no validation samples at T={t:g} for one half of the split"
                )
    teacher = base.teacher.model
    scorer = Scorer(cfg, teacher, sets)
    seeds = cfg.replicate_seeds()
    boots = {h: Bootstrap(shares, sets.prompt_ids(h), len(seeds), cfg.seed) for h in ("search", "confirm")}

    # 1. Fixed candidates first (enqueued, so the optimizer learns from them), then proposals.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=len(fixed))
        if cfg.optimizer == "tpe"
        else optuna.samplers.RandomSampler(seed=cfg.seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for c in fixed:
        study.enqueue_trial({f"w_{temperature_tag(t)}": c.weights.get(t, 0.0) for t in grid})
    results: list[dict[str, Any]] = []
    bar = tqdm(total=cfg.budget.candidates, desc="[search] candidates", unit="draft", file=sys.stderr)
    for i in range(cfg.budget.candidates):
        trial = study.ask()
        raw = _propose(trial, grid)
        cand = (
            fixed[i]
            if i < len(fixed)
            else Candidate(f"search #{i - len(fixed) + 1}", normalised(raw), "search")
        )
        result = evaluate_candidate(cfg, cand, pool_id, scorer, boots["search"])
        results.append(result)
        study.tell(trial, result["search"]["objective"])
        best = max(results, key=lambda r: r["search"]["objective"])
        bar.set_postfix_str(f"best {best['search']['objective']:.3f}x ({best['label']})")
        bar.update()
    bar.close()

    # 2. Confirm the finalists on prompts the search never scored; compare every candidate with the baselines.
    finalists, bases = _confirm(cfg, results, scorer, boots["confirm"])
    compare(results, bases, boots)
    winner = finalists[0]
    return {
        "command": command,
        "config": cfg.model_dump(mode="json"),
        "pool": pool_id,
        "grid": grid,
        "kd": kd,  # how every candidate's draft trains (distill's loss.mode)
        "serving": {f"{t:g}": w for t, w in shares.items()},
        "c": scorer.c,
        "cost_probe": scorer.cost_probe,
        "notes": notes,
        "seeds": seeds,
        "baselines": {name: b["label"] for name, b in bases.items()},
        "candidates": results,
        "finalists": [r["label"] for r in finalists],
        "winner": winner["label"],
        "eval_samples": {
            h: {f"{t:g}": len(s) for t, s in getattr(sets, h).items()} for h in ("search", "confirm")
        },
    }


def _confirm(
    cfg: SearchConfig, results: list[dict[str, Any]], scorer: Scorer, boot: Bootstrap
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Score every seed of the finalists on the confirm half (once: stored in its result.json)."""
    bases = baselines(results)
    finalists = _finalists(results, bases)
    for r in finalists:
        cand = Candidate(r["label"], {float(t): w for t, w in r["weights"].items()}, r["origin"])
        for rep in r["replicates"]:
            trial = Trial(cand, Path(cfg.output_dir).expanduser() / "candidates" / rep["folder"], rep["seed"])
            if "confirm" not in rep:
                rep["confirm"] = scorer.score(trial.draft, "confirm")
                write_result(trial, rep)
        r["confirm"] = combine(boot, [rep["confirm"] for rep in r["replicates"]])
    return finalists, bases


def _finalists(results: list[dict[str, Any]], bases: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The winner (best on the search half), the best fixed candidate, the best single temperature and
    the greedy candidate, in that order (the baselines are confirmed too: the paired comparisons need
    them)."""
    ranked = sorted(results, key=lambda r: -r["search"]["objective"])
    picks = [ranked[0], next(r for r in ranked if r["origin"] == "fixed"), bases["best_single"]]
    picks += [bases["greedy"]] if "greedy" in bases else []
    out: list[dict[str, Any]] = []
    for r in picks:
        if all(r is not o for o in out):
            out.append(r)
    return out


def publish(cfg: SearchConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """recipe.yaml, the registered dataset and the winning draft, beside the report."""
    import yaml

    from builders.build import run_build
    from builders.recipe import Recipe
    from core.public import public_command

    out = Path(cfg.output_dir).expanduser()
    winner = next(r for r in summary["candidates"] if r["label"] == summary["winner"])
    folder = out / "candidates" / winner["folder"]
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["name"] = cfg.name
    (out / "recipe.yaml").write_text(
        f"# python -m builders run {Path(cfg.output_dir) / 'recipe.yaml'}\n"  # as the user named the folder
        f"# Found by: {public_command(summary['command'])}\n" + yaml.safe_dump(recipe, sort_keys=False)
    )
    published: dict[str, Any] = {"recipe": str(out / "recipe.yaml")}
    if cfg.register_winner:
        result = run_build(
            Recipe.model_validate(recipe),
            out,
            recorded_command("python -m builders", ["run", str(out / "recipe.yaml")]),
        )
        published["dataset"] = result.version or str(result.path)
    shutil.rmtree(out / "draft", ignore_errors=True)
    shutil.copytree(folder / "draft", out / "draft", ignore=shutil.ignore_patterns("checkpoints"))
    published["draft"] = str(out / "draft")
    return published
