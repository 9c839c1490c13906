"""The `python -m evaluate run` config: one pydantic schema, from YAML, `--set k=v` or `--field v` flags.

    # evaluate.yaml
    target: smollm2-135m-instruct
    drafts: [runs/draft-t0_7, runs/draft-mix]
    temperatures: [0.0, 0.5, 1.0]
    prompts: my-dataset@v1            # or a folder, or prompts.jsonl
    output_dir: runs/eval-smollm2

Every problem is collected and raised once as a `ConfigError` naming each field path; the CLI prints it
and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError, TempdraftError
from core.yamlconfig import apply_overrides, pydantic_problems, read_mapping

OFFLINE_ALIASES = ("smollm2-135m-instruct",)
# Timed rounds per cost probe (after the warm-up), target and sampler alternating; each quantity is their
# median. Round 4c of docs/study.md: single-round compiled probes of one architecture put some k's step
# 16-19% apart. evaluate/costprobe.py's default too.
PROBE_ROUNDS = 5


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(
        description="Target model: offline alias 'smollm2-135m-instruct', a local folder or a Hub id."
    )
    drafts: list[str] = Field(
        min_length=1,
        description="Draft model folders or Hub ids, compared in one table. A "
        "folder's tempdraft-draft.json may give its `name` and `kd_temperature`.",
    )
    prompts: str = Field(
        description="Held-out prompts: a dataset id (name@vN or folder; its `split` rows) or a "
        "JSONL file with a prompt column."
    )
    output_dir: str = Field(description="Folder for results.json, results.md and the PNG plots.")
    temperatures: list[float] = Field(
        default=[0.0, 0.5, 1.0], min_length=1, description="Decoding temperatures; 0 means greedy."
    )
    k: Annotated[int, Field(ge=1, le=32)] | Literal["auto"] = Field(
        default=4,
        description="Draft tokens proposed per target call, or 'auto': per decoding temperature, the k in "
        "1..k_max with the highest speedup predicted from chained acceptance on the analytic samples and "
        "the step costs measured in the sampler's cache/compile mode (needs analytic: true).",
    )
    k_max: int = Field(default=8, ge=1, le=32, description="Largest k that k: auto considers.")
    max_new_tokens: int = Field(default=64, ge=1, le=8192, description="New tokens per prompt.")
    num_prompts: int = Field(default=16, ge=1, description="Prompts evaluated (the first ones by prompt_id).")
    split: str = Field(default="validation", description="Dataset split holding the held-out prompts.")
    prompt_column: str = Field(
        default="prompt",
        description="JSONL only: column with the prompt text (a `messages` column is used when present).",
    )
    analytic: bool = Field(
        default=True, description="Also estimate α from one teacher-forced pass per temperature."
    )
    analytic_samples: int = Field(
        default=16,
        ge=1,
        description="Held-out teacher samples per temperature for the "
        "analytic α (dataset rows at that temperature, else the target-alone outputs).",
    )
    measure_every_k: bool = Field(
        default=False,
        description="With k: auto, also run the sampler at every other k it prices (1..min(k_max, "
        "max_new_tokens - 2)): each k's measured speedup beside its prediction (k_curve.png), one more "
        "sampler run per k and cell.",
    )
    baseline_timing: Literal["interleaved", "once"] = Field(
        default="interleaved",
        description="How the target alone is timed for each measured speedup (and measure_every_k's): "
        "'interleaved' re-runs it beside every sampler run, prompt by prompt in turn (a drift in the "
        "machine's speed reaches both sides; one more target-alone run per sampler run, billed to the "
        "sampler's phase); 'once': one pass per temperature at the start of the sweep, shared by every "
        "draft (cheaper; rounds 1-4g of docs/study.md). The transformers and vLLM baselines are timed once.",
    )
    probe_rounds: int = Field(
        default=PROBE_ROUNDS,
        ge=1,
        description="Timed rounds of the cost probe per draft and decoding path; it keeps their median "
        "(1: a quick, noisier price, for runs whose speedup columns are not used).",
    )
    baselines: list[Literal["assisted", "vllm"]] = Field(
        default=[],
        description="Opt-in: also time transformers assisted generation ('assisted'; it roughly doubles "
        "the run) and/or vLLM draft-model speculative decoding ('vllm', when vllm is importable).",
    )
    seed: int = Field(default=0, description="Base seed of every sampler (per prompt: seed + prompt index).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="'auto' picks cuda when available."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="Model weights dtype; 'auto': the checkpoint's, except float32 on CPUs "
        "without native bf16 (AVX512-BF16/AMX), where bf16 prefill is ~5× slower.",
    )
    cache: Literal["dynamic", "static"] = Field(
        default="dynamic",
        description="KV cache: 'dynamic' (crop on rejection) or 'static' (preallocated; needed for compile).",
    )
    compile: bool = Field(
        default=False,
        description="torch.compile the decode forwards (CUDA graphs on GPU); needs cache: static.",
    )
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads (default: torch's choice)."
    )

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, v: list[float]) -> list[float]:
        bad = [t for t in v if not 0.0 <= t <= 2.0]
        if bad:
            raise ValueError(f"temperatures must lie in [0, 2], got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"temperatures repeat: {v}")
        return sorted(v)

    @property
    def auto_k(self) -> bool:
        return self.k == "auto"

    @property
    def k_top(self) -> int:
        """The largest k any step runs: k_max with k: auto, else k (the decoder's buffers hold this many)."""
        return self.k_max if self.k == "auto" else self.k


def _model_problem(field: str, name: str) -> tuple[str, str] | None:
    if name.lower() in OFFLINE_ALIASES:
        return None
    folder = Path(name).expanduser()
    if folder.is_dir():
        return (
            None
            if (folder / "config.json").is_file()
            else (field, f"model folder {name!r} has no config.json")
        )
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        return (field, f"no model folder {name!r} (and not a Hub id 'org/name')")
    return None


def semantic_problems(cfg: EvalConfig) -> list[tuple[str, str]]:
    """Checks that need the filesystem: models and prompts exist, combinations make sense."""
    problems = [p for p in [_model_problem("target", cfg.target)] if p]
    problems += [p for i, d in enumerate(cfg.drafts) if (p := _model_problem(f"drafts.{i}", d))]
    source = Path(cfg.prompts).expanduser()
    if source.suffix == ".jsonl":
        if not source.is_file():
            problems.append(("prompts", f"no such JSONL file: {cfg.prompts}"))
    else:
        from registry.resolve import resolve_dataset

        try:
            resolve_dataset(cfg.prompts)
        except TempdraftError as e:
            problems.append(("prompts", str(e)))
    if cfg.k == "auto" and not cfg.analytic:
        problems.append(("k", "k: auto picks k from the analytic samples: set analytic: true"))
    if cfg.measure_every_k and cfg.k != "auto":
        problems.append(("measure_every_k", "measures the k: auto curve: set k: auto"))
    if cfg.compile and cfg.cache != "static":
        problems.append(("compile", "torch.compile needs fixed shapes: set cache: static"))
    out = Path(cfg.output_dir).expanduser()
    if out.exists() and not out.is_dir():
        problems.append(("output_dir", f"{cfg.output_dir} exists and is not a folder"))
    return problems


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, values: dict[str, Any] | None = None
) -> EvalConfig:
    """YAML file (optional) <- `key=value` overrides (values are YAML) <- already-parsed flag values."""
    origin = str(path) if path else "flags"
    data = read_mapping(path, "config", ConfigError) if path is not None else {}
    apply_overrides(data, overrides or [], "config", ConfigError)
    data.update(values or {})  # flags name top-level fields and win over the file and --set
    try:
        cfg = EvalConfig.model_validate(data)
    except ValidationError as e:
        # k is `int | "auto"`: pydantic names the union member tried ("constrained-int", "literal[...]").
        raise ConfigError(
            pydantic_problems(e, hidden_prefixes=("constrained-", "literal[")), origin
        ) from None
    if problems := semantic_problems(cfg):
        raise ConfigError(problems, origin)
    return cfg
