"""The recipe schema: one pydantic model per concept, the single source of truth for validation.

A recipe says *what to sample* (teacher, prompt sources, temperature grid, lengths, engine) and
*how to compose it* (an optional mixture over the sampled pool). `python -m builders validate X.yaml`
checks a recipe without loading any model.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from builders.mixture_spec import MixtureSpec
from core.names import dataset_name_problem
from core.schema import Strict, TeacherSpec

MAX_TEMPERATURE = 100.0  # far above any useful sampling temperature; keeps temperature arithmetic finite
MIN_TEMPERATURE_STEP = 1e-6  # grid values are rounded to 6 decimals: a finer step would repeat them


def template_columns(template: str) -> list[str]:
    """The columns a prompt template names. Only plain `{column}` fields are allowed: no positional
    `{0}`/`{}`, attributes `{a.b}`, indexes `{a[0]}`, conversions `{a!r}` or format specs `{a:>9}`, which
    would render Python objects or fail on some records. `{{`/`}}` are literal braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"not a valid template: {e} (write literal braces as '{{{{' and '}}}}')") from None
    columns = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or field.isdigit() or any(c in field for c in ".[]") or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            shown += "}"
            raise ValueError(f"template field {shown} is not a plain column name like '{{question}}' "
                             "(no positions, attributes, indexes, conversions or format specs)")
        columns.append(field)
    return columns


class _SourceBase(Strict):
    name: str | None = Field(None, description="Label stored in the `source` column; defaults to the dataset/file name.")
    prompt_column: str | None = Field(
        None, description="Column holding the prompt text (a list column, e.g. MT-bench `turns`, uses its first item)."
    )
    template: str | None = Field(
        None, description="Python format string over the record's columns, e.g. '{instruction}\\n\\n{context}'."
    )
    limit: int | None = Field(None, gt=0, description="Use at most this many prompts (the first ones, after de-duplication).")
    system_prompt: str | None = Field(None, description="System message prepended to every prompt of this source.")

    @field_validator("template")
    @classmethod
    def _plain_fields(cls, v: str | None) -> str | None:
        if v is not None:
            template_columns(v)
        return v

    @model_validator(mode="after")
    def _one_prompt_field(self) -> _SourceBase:
        if self.prompt_column and self.template:
            raise ValueError("give either prompt_column or template, not both")
        return self


class HubSource(_SourceBase):
    kind: Literal["hub"] = Field(description="A dataset on the Hugging Face Hub, read with `datasets.load_dataset`.")
    dataset: str = Field(description="Hub dataset id, e.g. 'openai/gsm8k'.")
    config: str | None = Field(None, description="Dataset configuration name, e.g. 'main'.")
    split: str = Field("train", description="Split to read.")
    revision: str | None = Field(None, description="Dataset revision.")


class FileSource(_SourceBase):
    kind: Literal["file"] = Field(description="A local JSONL / JSON / Parquet / CSV file.")
    path: str = Field(description="Path to the file; relative paths resolve against the recipe's folder.")


class GeneratorSource(Strict):
    kind: Literal["generator"] = Field(description="Prompts made offline by a reasoning-gym generator (no hub needed).")
    generator: str = Field("gsm_symbolic", description="reasoning-gym dataset name, e.g. 'gsm_symbolic', 'basic_arithmetic'.")
    size: int = Field(gt=0, description="How many prompts to generate.")
    seed: int = Field(0, description="Generator seed (the prompts are a pure function of generator, size and seed).")
    name: str | None = Field(None, description="Label stored in the `source` column; defaults to the generator name.")
    system_prompt: str | None = Field(None, description="System message prepended to every prompt.")


Source = Annotated[HubSource | FileSource | GeneratorSource, Field(discriminator="kind")]


Temperature = Annotated[float, Field(ge=0, le=MAX_TEMPERATURE)]


class TemperatureRange(Strict):
    start: Temperature = Field(description="First temperature.")
    stop: Temperature = Field(description="Last temperature (inclusive).")
    step: float = Field(ge=MIN_TEMPERATURE_STEP, description="Grid step (values are rounded to 6 decimals).")

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureRange:
        if self.stop < self.start:
            raise ValueError(f"stop {self.stop} is below start {self.start}")
        return self

    def count(self) -> int:
        """Grid size, without building the grid (limits.max_temperatures bounds it before values())."""
        return int(round((self.stop - self.start) / self.step)) + 1

    def values(self) -> list[float]:
        return [round(self.start + i * self.step, 6) for i in range(self.count())]


def _grid_kind(value: object) -> str:
    """A mapping is a range, anything else a list: errors then name one form, not both union members."""
    return "temperature-range" if isinstance(value, dict | TemperatureRange) else "temperature-list"


TemperatureGrid = Annotated[
    Annotated[list[Temperature], Tag("temperature-list")]
    | Annotated[TemperatureRange, Tag("temperature-range")],
    Discriminator(_grid_kind),
]


class SamplingSpec(Strict):
    temperatures: TemperatureGrid = Field(
        description="Generation temperatures: a list, or {start, stop, step}. 0 means greedy (one sample)."
    )
    samples_per_prompt: int = Field(1, ge=1, description="Samples per prompt and temperature (greedy always takes one).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling; 1.0 keeps pure temperature sampling.")
    max_new_tokens: int = Field(128, gt=0, description="Maximum response length in tokens.")
    topk_logprobs: int = Field(
        0, ge=0, le=100, description="Store the teacher's top-k log-probabilities (after temperature) per response token; 0 = off."
    )

    @field_validator("temperatures")
    @classmethod
    def _non_empty(cls, v: list[float] | TemperatureRange) -> list[float] | TemperatureRange:
        if isinstance(v, TemperatureRange):  # never empty, never repeats; its size is bounded by `limits`
            return v
        if not v:
            raise ValueError("the temperature grid is empty")
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate temperatures in {v[:50]}")
        return v

    def grid_size(self) -> int:
        t = self.temperatures
        return t.count() if isinstance(t, TemperatureRange) else len(t)

    def requests_per_prompt(self) -> int:
        """Requests one prompt expands to (greedy takes one sample), without building the grid."""
        t = self.temperatures
        greedy = t.start == 0 if isinstance(t, TemperatureRange) else 0 in t
        return self.grid_size() * self.samples_per_prompt - (self.samples_per_prompt - 1) * greedy

    def temperature_grid(self) -> list[float]:
        t = self.temperatures
        return sorted(t.values() if isinstance(t, TemperatureRange) else [float(x) for x in t])


class EngineSpec(Strict):
    backend: Literal["auto", "vllm", "transformers"] = Field(
        "auto", description="Sampling engine; auto = vLLM when importable, else transformers."
    )
    batch_size: int = Field(64, gt=0, description="transformers backend: rows per generate call (64 measured best on a 2-core CPU).")
    device: str | None = Field(None, description="transformers backend: torch device; default cuda when available, else cpu.")
    max_model_len: int | None = Field(None, gt=0, description="vLLM: context length (prompt + response).")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM: GPUs per engine.")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1, description="vLLM: fraction of GPU memory for the engine.")
    cpu_kvcache_gib: float = Field(2.0, gt=0, description="vLLM-CPU: KV-cache size in GiB (VLLM_CPU_KVCACHE_SPACE).")
    cpu_threads: Literal["auto", "default", "all"] = Field(
        "auto", description="vLLM-CPU: 'default' keeps one core for vLLM's scheduler; 'all' binds the model's "
        "threads to every core (main job 1.12x faster on an idle 2-core box, 1.2-2.2x slower when other work "
        "holds a core); 'auto' = 'all' on CPU boxes of at most 4 cores, else 'default'. The manifest records "
        "which ran; rows agree across bindings as often as between two runs, so it is not in the fingerprint.")
    # None = 32 on CPU, vLLM's own default on GPU. Prefix caching shares only *full* blocks, and vLLM-CPU's
    # default block of 128 tokens is longer than a typical chat prompt (~95 tokens for SmolLM2 + GSM8K),
    # so K temperatures of one prompt each redo the whole prefill; 32 is the smallest size vLLM-CPU's
    # attention accepts (multiples of 32 only) and lets them share all but the last partial block.
    # GPU backends pick their own sizes (some require 64+), so no fixed value is forced there.
    block_size: int | None = Field(
        None, gt=0, description="vLLM: KV-cache block size; default 32 on CPU (short prompts then share prefill "
        "across temperatures), vLLM's default on GPU. vLLM-CPU accepts multiples of 32 only."
    )
    enforce_eager: bool = Field(True, description="vLLM: skip graph capture/compilation (faster start, slower steps).")


class OutputSpec(Strict):
    dir: str | None = Field(
        None, description="Write a plain dataset folder here. Default: register the build in the local catalog as name@vN."
    )
    shard_size: int = Field(256, gt=0, description="Requests per shard: the unit of resume and of one engine call.")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of prompts held out as the validation split (split by prompt, never by row)."
    )


# --- executor (scale-out, docs/design-notes.md): where the shards are sampled. Not part of the
# fingerprint: it changes how fast rows come, never which rows (a shard is one engine call either way).
class LocalExecutor(Strict):
    kind: Literal["local"] = Field("local", description="Sample every shard in this process (the default).")


class RayExecutor(Strict):
    kind: Literal["ray"] = Field(description="Sample shards on a Ray cluster: Ray Data over pending shards, "
                                 "an actor pool whose actors each hold one engine.")
    address: str | None = Field(
        None, description="Ray cluster to join: 'auto', 'HOST:6379' or 'ray://HOST:10001'. "
        "Default: $RAY_ADDRESS, else a Ray instance started just for this build."
    )
    num_actors: int = Field(1, ge=1, description="Engines running at once, one per actor (a fixed pool).")
    cpus_per_actor: float = Field(1.0, gt=0, description="Ray CPUs per actor (also its torch threads).")
    gpus_per_actor: float = Field(
        0.0, ge=0, description="Ray GPUs per actor: engine.tensor_parallel_size for vLLM on GPUs, "
        "a fraction (e.g. 0.5) to pack small teachers, 0 on CPU."
    )


def _executor_shorthand(value: object) -> object:
    """`executor: ray` is short for `executor: {kind: ray}` (all defaults)."""
    return {"kind": value} if isinstance(value, str) else value


Executor = Annotated[
    LocalExecutor | RayExecutor, Field(discriminator="kind"), BeforeValidator(_executor_shorthand)
]


class LimitsSpec(Strict):
    """Bounds checked before any work (`validate`, `run --dry-run`, `run`), so a typo such as `step: 1e-8`
    or `size: 1000000000` fails in milliseconds instead of filling memory. Raise one when you mean it:
    `--set limits.max_requests=5000000`. Not part of the fingerprint (they never change the rows)."""

    max_requests: int = Field(
        2_000_000, ge=1, description="Most sampling requests a recipe may plan (prompts x temperatures x "
        "samples; ~0.3 KB and ~30 us each while planning). Raise with --set limits.max_requests=N."
    )
    max_temperatures: int = Field(
        1_000, ge=1, description="Most temperatures in the grid. Raise with --set limits.max_temperatures=N."
    )
    max_mixture_rows: int = Field(
        2_000_000, ge=1, description="Most rows a mixture may ask for (total_rows, or the components' rows). "
        "Raise with --set limits.max_mixture_rows=N."
    )


class Recipe(Strict):
    name: str = Field(description="Dataset name: letters, digits, '_', '-', '.', at most 96 characters "
                      "(the registry's rule, core/names.py).")
    description: str = Field("", description="Free text copied into the dataset card.")
    seed: int = Field(0, description="Root seed: request seeds, splits and mixtures derive from it.")
    teacher: TeacherSpec | None = Field(
        None, description="The model to sample (omit when the pool comes from `pool`). The build resolves "
        "dtype 'auto' before fingerprinting, so the manifest records the dtype that ran."
    )
    sources: list[Source] = Field(default_factory=list, description="Prompt sources, concatenated in order.")
    sampling: SamplingSpec | None = Field(None, description="What to sample per prompt.")
    pool: str | None = Field(
        None, description="Compose from an already-built dataset (path or dataset id) instead of sampling."
    )
    engine: EngineSpec = Field(default_factory=EngineSpec, description="Sampling engine options.")
    mixture: MixtureSpec | None = Field(None, description="Temperature-aware mixture over the sampled pool.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="Where and how rows are written.")
    executor: Executor = Field(
        default_factory=LocalExecutor,
        description="Where shards are sampled: local (this process) or ray (a cluster's actor pool).",
    )
    # Card metadata only: kept out of the fingerprint, they never change a row.
    license: str | None = Field(
        None,
        description="License id for the dataset card (e.g. 'apache-2.0', 'mit', 'other'). Default: derived "
        "from the teacher and sources when each one's license is known and they agree, else 'other'.",
    )
    language: list[str] = Field(
        default_factory=lambda: ["en"],
        description="Languages of prompts and responses (ISO 639-1), for the card.",
    )
    limits: LimitsSpec = Field(default_factory=LimitsSpec,
                               description="Bounds on planned work (raise with --set).")

    @field_validator("name")
    @classmethod
    def _hub_safe(cls, v: str) -> str:
        if (problem := dataset_name_problem(v)) is not None:
            raise ValueError(problem)
        return v

    def bound_problems(self) -> list[tuple[str, str]]:
        """Work the recipe would plan beyond `limits`, by arithmetic only (nothing is built here)."""
        lim, problems = self.limits, []

        def above(path: str, what: str, limit: str) -> None:
            bound = getattr(lim, limit)
            problems.append((path, f"{what}, above limits.{limit}={bound:,} "
                                   f"(raise it with --set limits.{limit}=N)"))

        for i, src in enumerate(self.sources):
            if isinstance(src, GeneratorSource) and src.size > lim.max_requests:
                above(f"sources.{i}.size", f"{src.size:,} prompts", "max_requests")
        if self.sampling is not None and self.sampling.grid_size() > lim.max_temperatures:
            above("sampling.temperatures", f"{self.sampling.grid_size():,} temperatures", "max_temperatures")
        elif self.sampling is not None:
            grid = self.sampling.temperature_grid()
            if len(set(grid)) != len(grid):
                problems.append(("sampling.temperatures", "the range repeats temperatures (rounding)"))
            per_prompt = self.sampling.requests_per_prompt()
            most = [s.size if isinstance(s, GeneratorSource) else s.limit for s in self.sources]
            prompts = sum(n or 0 for n in most)
            if None not in most and prompts * per_prompt > lim.max_requests:  # all counts known here
                above("limits.max_requests", f"up to {prompts * per_prompt:,} requests ({prompts:,} prompts "
                      f"x {per_prompt} per prompt; lower the sources' size/limit, the grid or "
                      "samples_per_prompt)", "max_requests")
        if self.mixture is not None:
            if (self.mixture.total_rows or 0) > lim.max_mixture_rows:
                above("mixture.total_rows", f"{self.mixture.total_rows:,} rows", "max_mixture_rows")
            fixed = sum(c.rows or 0 for c in self.mixture.components)
            if fixed > lim.max_mixture_rows:
                above("mixture.components", f"the components' rows sum to {fixed:,}", "max_mixture_rows")
        return problems
