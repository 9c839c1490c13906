"""The `python -m evaluate search` config: one pydantic schema, checked whole before any model loads.

    # a search config (evaluate/configs/search_t1.yaml is a runnable one)
    pool: grid_pool@latest             # a dataset with per-temperature configs and a validation split
    serving: {temperatures: {1.0: 1}}  # serving temperature(s) and their share of traffic
    distill: distill/configs/seqkd.yaml
    budget: {candidates: 16, max_steps: 200, train_rows: 512, eval_prompts: 32}
    seeds: [0, 1, 2]                   # optional: train every candidate 3 times (3x the training cost)
    output_dir: runs/search-t1

Every problem is collected with its field path and raised once (`ConfigError`, exit 2 at the CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from core.errors import ConfigError, TempdraftError
from core.schema import Strict
from core.yamlconfig import apply_overrides, pydantic_problems, read_mapping

_TOL = 1e-6


class Serving(Strict):
    temperatures: dict[float, float] = Field(
        min_length=1,
        description="Serving temperature -> share of traffic (normalised to sum 1), e.g. {1.0: 1} or "
        "{0.7: 0.5, 1.0: 0.5}. The objective is the share-weighted predicted speedup.",
    )
    extrapolate: bool = Field(
        False,
        description="Allow serving temperatures outside the pool's grid (the draft is then scored on the "
        "nearest pool temperature's teacher samples, re-tempered; off by default because nothing measured "
        "backs it).",
    )

    @field_validator("temperatures")
    @classmethod
    def _valid(cls, v: dict[float, float]) -> dict[float, float]:
        bad = [t for t in v if not 0.0 <= t <= 2.0]
        if bad:
            raise ValueError(f"serving temperatures must lie in [0, 2], got {bad}")
        if any(w <= 0 for w in v.values()):
            raise ValueError(f"shares must be > 0, got {list(v.values())}")
        return v

    def shares(self) -> dict[float, float]:
        total = sum(self.temperatures.values())
        return {t: w / total for t, w in sorted(self.temperatures.items())}


class Budget(Strict):
    candidates: int = Field(
        description="Candidate mixtures scored in all (each trained once per seed in `seeds`), the fixed "
        "candidates (every single pool temperature, uniform, "
        "mix_high_temp when the pool can compose it) included; the rest are proposed by the optimizer.",
        gt=0,
    )
    max_steps: int = Field(
        200, gt=0, description="Optimizer steps per draft (early stopping may end sooner)."
    )
    train_rows: int = Field(512, gt=0, description="Rows composed from the pool for each candidate mixture.")
    eval_prompts: int = Field(
        32,
        gt=0,
        description="Held-out prompts per half: the search scores candidates on one half of the pool's "
        "validation prompts and confirms the winner on the other half.",
    )


class SearchConfig(Strict):
    pool: str = Field(
        description="Pool dataset id (name@vN, folder, Hub id) sampled over a temperature grid."
    )
    serving: Serving = Field(description="The temperature(s) the draft will serve at.")
    distill: str = Field(
        description="Base distill config YAML (draft, loss, optim); dataset, output and max_steps are set by "
        "the search for each candidate."
    )
    distill_overrides: list[str] = Field(
        default=[], description="`--set`-style overrides applied to the distill config, e.g. optim.lr=1e-3."
    )
    budget: Budget = Field(description="How much the search may spend.")
    k_max: int = Field(8, ge=1, le=32, description="Largest k (draft tokens per target call) considered.")
    c: float | Literal["auto"] = Field(
        "auto",
        description="Draft/target step-cost ratio; 'auto' measures it once on this device with the first "
        "candidate's draft (all candidates share the draft architecture), in the mode of `cache` and "
        "`compile`, together with the verify cost of each k (a number: verify cost 1, the paper's model).",
    )
    cache: Literal["dynamic", "static"] = Field(
        "dynamic", description="KV cache of the sampler the draft will run in (for measuring c)."
    )
    compile: bool = Field(
        False,
        description="The sampler is torch.compiled (CUDA graphs on GPU): measure c that way; needs static.",
    )
    optimizer: Literal["tpe", "random"] = Field(
        "tpe", description="optuna sampler proposing mixture weights: 'tpe' (Bayesian) or 'random'."
    )
    seed: int = Field(
        0, description="Seed of the optimizer and the bootstraps; the drafts' seed unless `seeds` is set."
    )
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(
        None,
        min_length=1,
        description="Training replicates: every candidate is composed and trained once per seed (the "
        "pool rows it draws and distill's run.seed), its objective is the mean over seeds and the paired "
        "comparisons resample seeds as well as prompts. Multiplies the training cost by len(seeds). "
        "null = one draft per candidate, with `seed`.",
    )
    parallel_trainings: int = Field(
        1,
        ge=1,
        le=8,
        description="Seeds of one candidate trained at once, each in its own spawned process. On a GPU a "
        "small draft's training leaves it mostly idle (docs/study.md round 4c: two searches on one H200 "
        "each trained within 10% of the time one alone took). On a CPU keep 1: the processes share its "
        "cores.",
    )
    name: str = Field("searched_mix", description="Name under which the winning mixture is registered.")
    register_winner: bool = Field(True, description="Register the winning mixture in the catalog as name@vN.")
    output_dir: str = Field(
        description="Folder for search.json, search.md, candidates.png, recipe.yaml, drafts."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' picks cuda when available.")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and len(set(v)) < len(v):
            raise ValueError(f"seeds must be distinct (each is one training replicate), got {v}")
        return v

    def replicate_seeds(self) -> list[int]:
        """The seeds each candidate is trained with: `seeds`, or just `seed`."""
        return list(self.seeds) if self.seeds is not None else [self.seed]


def pool_problems(cfg: SearchConfig) -> tuple[Path | None, list[float], list[tuple[str, str]]]:
    """The pool resolves, has a validation split and the serving temperatures (unless extrapolating)."""
    from registry.dataset import ALL_CONFIG, config_files, read_manifest
    from registry.resolve import resolve_dataset

    try:
        folder = resolve_dataset(cfg.pool)
    except TempdraftError as e:
        return None, [], [("pool", str(e))]
    manifest = read_manifest(folder)
    grid = sorted(float(t) for t in manifest.temperatures or [])
    problems: list[tuple[str, str]] = []
    if len(grid) < 2:
        problems.append(
            ("pool", f"{cfg.pool} holds temperatures {grid}: a search needs a grid of at least two")
        )
    if not config_files(folder, ALL_CONFIG, "validation"):
        problems.append(
            (
                "pool",
                f"{cfg.pool} has no 'validation' split: the search scores drafts on held-out "
                "prompts (rebuild the pool with output.validation_fraction > 0)",
            )
        )
    per_t = (manifest.counts or {}).get("per_temperature", {})
    if per_t:
        fewest_t, fewest = min(((float(t), int(v["rows"])) for t, v in per_t.items()), key=lambda x: x[1])
        if cfg.budget.train_rows > fewest:
            problems.append(
                (
                    "budget.train_rows",
                    f"{cfg.budget.train_rows} exceeds the {fewest} rows the pool "
                    f"holds at T={fewest_t:g} (a single-temperature candidate draws all its rows "
                    f"there); set at most {fewest}",
                )
            )
    from evaluate.search.candidates import fixed_candidates

    fixed, _ = fixed_candidates(grid)
    if cfg.budget.candidates < len(fixed):
        problems.append(
            (
                "budget.candidates",
                f"{cfg.budget.candidates} is fewer than the {len(fixed)} fixed "
                f"candidates ({', '.join(c.label for c in fixed)}); set it to at least {len(fixed)}",
            )
        )
    if not cfg.serving.extrapolate:
        for t in cfg.serving.temperatures:
            if not any(abs(t - g) < _TOL for g in grid):
                problems.append(
                    (
                        f"serving.temperatures.{t:g}",
                        f"{t:g} is not in the pool's grid {grid}; pick one of them, or set "
                        "serving.extrapolate: true",
                    )
                )
    return folder, grid, problems


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SearchConfig:
    """Read, override, validate (schema, pool, distill config). Raises ConfigError listing every problem."""
    data: dict[str, Any] = read_mapping(path, "search config", ConfigError)
    apply_overrides(data, list(overrides), "search config", ConfigError)
    try:
        cfg = SearchConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(pydantic_problems(e), str(path)) from None
    _, _, problems = pool_problems(cfg)
    if cfg.compile and cfg.cache != "static":
        problems.append(("compile", "torch.compile needs fixed shapes: set cache: static"))
    if not Path(cfg.distill).expanduser().is_file():
        problems.append(("distill", f"no such distill config: {cfg.distill}"))
    else:  # the base config with the search's overrides must parse (its dataset is set per candidate)
        from distill.config import load_config as load_distill

        try:
            load_distill(cfg.distill, cfg.distill_overrides)
        except ConfigError as e:
            problems += [
                ("distill_overrides" if cfg.distill_overrides else "distill", f"{field}: {msg}")
                for field, msg in e.problems
            ]
    if problems:
        raise ConfigError(problems, str(path))
    return cfg
