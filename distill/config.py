"""The distill config: one pydantic schema, the single source of truth for validation and `--help` text.

    python -m distill validate distill/configs/online_fkl.yaml --set loss.temperature=0.7

Loading is YAML -> dotted `--set` overrides -> pydantic, through `core.yamlconfig`. Every problem is
collected and raised once as a `ConfigError` naming each dotted field path. Checks that need the
filesystem (dataset folder, configs, columns, teacher identity) live in `distill.checks`.
This module imports no torch, so `validate` and the CLI's error path stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from core.cli import schema_reference
from core.errors import ConfigError
from core.schema import Strict, TeacherSpec
from core.yamlconfig import apply_overrides, parse_override, pydantic_problems, read_mapping


class DatasetSpec(Strict):
    id: str = Field(
        description="Dataset id: a local dataset folder (relative to the current directory), 'name@vN' "
        "from the catalog, or a Hub dataset id 'org/name[@vN]'."
    )
    config: str = Field(
        "all",
        description="Dataset config: one generation temperature ('t0_7'), 'mixture', "
        "or 'all' (every temperature).",
    )
    split: str = Field("train", description="Split to train on.")
    max_rows: int | None = Field(
        None, gt=0, description="Use at most this many rows (the first ones, in file order)."
    )


class PretrainedDraft(Strict):
    init: Literal["pretrained"] = Field(description="Load an existing model with `from_pretrained`.")
    model: str = Field(description="Hub id (e.g. 'JackFram/llama-68m') or local folder of the draft.")
    revision: str | None = Field(None, description="Hub revision of the draft.")


class FirstLayersDraft(Strict):
    init: Literal["first_n_layers"] = Field(
        description="Derive from the teacher: its embeddings, first N decoder layers, final norm and lm_head."
    )
    num_layers: int = Field(gt=0, description="How many of the teacher's decoder layers to keep.")


class SmallConfigDraft(Strict):
    init: Literal["small_config"] = Field(
        description="A fresh model of the teacher's architecture with fewer/smaller layers, "
        "the teacher's tokenizer, "
        "and embeddings taken from the teacher (projected onto their top principal directions when narrower)."
    )
    num_layers: int = Field(gt=0, description="Decoder layers.")
    hidden_size: int | None = Field(
        None, gt=0, description="Hidden size; default the teacher's (embeddings copied as is)."
    )
    intermediate_size: int | None = Field(
        None, gt=0, description="MLP width; default keeps the teacher's MLP/hidden ratio."
    )
    num_attention_heads: int | None = Field(
        None, gt=0, description="Attention heads; default keeps the teacher's head_dim."
    )
    num_key_value_heads: int | None = Field(
        None, gt=0, description="KV heads (GQA); default = attention heads."
    )


DraftSpec = Annotated[PretrainedDraft | FirstLayersDraft | SmallConfigDraft, Field(discriminator="init")]


class LossSpec(Strict):
    mode: Literal["seqkd", "online", "topk"] = Field(
        description="seqkd: cross-entropy on the teacher's sampled response tokens; "
        "online: token-level divergence to a live teacher forward; "
        "topk: token-level divergence to the dataset's stored teacher top-k log-probs."
    )
    divergence: Literal["fkl", "rkl", "tvd", "jsd"] = Field(
        "fkl",
        description="Token-level divergence between teacher p and draft q (online/topk): KL(p||q), KL(q||p), "
        "total variation, or the generalised Jensen-Shannon JSD_beta against m = beta*p + (1-beta)*q.",
    )
    beta: float = Field(
        0.5, gt=0, lt=1, description="JSD mixture weight of the teacher; 0.5 is the symmetric JSD."
    )
    temperature: float | None = Field(
        None,
        gt=0,
        description="Loss temperature: both distributions are softmax(logits / T). online: default 1.0; "
        "low values (0.1-0.2) teach only the teacher's top tokens and the draft collapses at other decoding "
        "temperatures, while 0.8-1.0 did as well or better at every decoding T <= 1 (one seed; "
        "docs/study.md, round 4d). "
        "topk: leave unset (the temperature the log-probs were stored at) - "
        "a top-k cannot be re-tempered exactly "
        "because its tail is unknown. seqkd: not used.",
    )

    @model_validator(mode="after")
    def _fits_mode(self) -> LossSpec:
        # Settings that would be silently ignored are errors: a user who wrote them expects an effect.
        given = self.model_fields_set
        if self.mode == "seqkd" and given & {"temperature", "divergence", "beta"}:
            raise ValueError(
                "seqkd is cross-entropy on sampled tokens: it takes no temperature, divergence or beta "
                f"(got {sorted(given & {'temperature', 'divergence', 'beta'})})"
            )
        if "beta" in given and self.divergence != "jsd":
            raise ValueError(
                f"beta is the JSD mixture weight; it has no effect with divergence {self.divergence!r}"
            )
        return self

    def resolved_temperature(self) -> float | None:
        return 1.0 if self.mode == "online" and self.temperature is None else self.temperature


class OptimSpec(Strict):
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="After warm-up: cosine decay to 10% or constant."
    )
    grad_clip: float | None = Field(
        1.0, gt=0, description="Clip the gradient norm to this value; null = off."
    )
    batch_size: int = Field(8, gt=0, description="Sequences per micro-batch.")
    grad_accum: int = Field(
        1, ge=1, description="Micro-batches per optimizer step (effective batch = batch_size x grad_accum)."
    )
    max_steps: int | None = Field(
        None,
        gt=0,
        description="Optimizer steps (the budget; early stopping may end sooner); give this or `epochs`. "
        "`--set optim.max_steps=N` replaces a config's `epochs`, as max_steps overrides num_train_epochs "
        "in transformers' TrainingArguments.",
    )
    epochs: float | None = Field(
        None,
        gt=0,
        description="Passes over the training rows; give this or `max_steps`. "
        "`--set optim.epochs=E` replaces a config's `max_steps`.",
    )
    max_length: int = Field(
        1024, gt=1, description="Prompt + response tokens per row; longer rows lose their response tail."
    )

    @model_validator(mode="after")
    def _one_length(self) -> OptimSpec:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError(
                f"give exactly one of max_steps or epochs (got max_steps={self.max_steps}, "
                f"epochs={self.epochs}); delete one, or give one with --set, which clears the other"
            )
        return self


class EarlyStoppingSpec(Strict):
    metric: Literal["loss", "alpha"] = Field(
        "loss",
        description="What to watch on the held-out split: the training objective's loss (lower is better) "
        "or the teacher-forced acceptance alpha (higher is better).",
    )
    patience: int = Field(
        5, ge=1, description="Stop after this many held-out evaluations without an improvement."
    )
    min_delta: float = Field(
        0.0, ge=0, description="An evaluation improves only when it beats the best so far by more than this."
    )
    temperature: float | None = Field(
        None,
        ge=0,
        description="metric alpha: the decoding temperature whose alpha to watch (scored in addition to "
        "the data's generation temperatures if it is not one of them); null = the mean alpha over the "
        "data's generation temperatures. metric loss: not used.",
    )

    @model_validator(mode="after")
    def _fits_metric(self) -> EarlyStoppingSpec:
        if self.metric == "loss" and self.temperature is not None:
            raise ValueError("temperature picks an alpha to watch; it has no effect with metric 'loss'")
        return self


class RunSpec(Strict):
    output_dir: str = Field(
        description="Where the trained draft (save_pretrained folder + card) and checkpoints go."
    )
    name: str | None = Field(
        None, description="Draft name stored in its card; default the output folder's name."
    )
    seed: int = Field(0, description="Seed for the draft's fresh weights and the data order.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto = bf16 autocast on GPU, fp32 on CPU. Master weights stay fp32 either way."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when available.")
    checkpoint_every: int | None = Field(
        None,
        gt=0,
        description="Save a resumable checkpoint every N steps (the finished draft is saved either way); "
        "null = none.",
    )
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    parallel: Literal["none", "ddp", "fsdp"] = Field(
        "none",
        description="How torchrun's ranks share the draft: ddp (a copy per rank) or fsdp (weights, gradients "
        "and AdamW state sharded, for drafts beyond one GPU; no run.checkpoint_every). none = one process; "
        "a run launched by torchrun must name ddp or fsdp. See distill/distributed.py.",
    )
    log_every: int = Field(10, gt=0, description="Print loss, tokens/s and ETA every N steps.")
    eval_split: str | None = Field(
        None,
        description="Held-out split (e.g. 'validation') scored before training, every `eval_every` steps "
        "and at the end - objective loss and teacher-forced acceptance at each generation "
        "temperature - into the card's learning curve; null = off.",
    )
    eval_rows: int = Field(64, gt=0, description="Rows of eval_split to score.")
    eval_every: int | None = Field(
        None,
        gt=0,
        description="Score eval_split every N optimizer steps (needed by early_stopping and by the "
        "still-improving verdict); null = before and after training only.",
    )
    early_stopping: EarlyStoppingSpec | None = Field(
        None,
        description="Stop when the held-out metric has not improved by min_delta for `patience` evaluations, "
        "then keep the best evaluation's weights (also when the step budget runs out first); "
        "null = train the whole budget and keep the last weights.",
    )
    save_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="Dtype of the saved draft's weights; auto = the teacher's dtype (what a server loads). "
        "Training keeps fp32 master weights either way.",
    )


class DistillConfig(Strict):
    dataset: DatasetSpec = Field(description="What to train on.")
    teacher: TeacherSpec = Field(
        description="The teacher the dataset was sampled from: it must match the teacher recorded in the "
        "dataset's manifest. Online mode and held-out scoring run it live, in `dtype`."
    )
    draft: DraftSpec = Field(description="How the draft starts.")
    loss: LossSpec = Field(description="Training objective.")
    optim: OptimSpec = Field(description="Optimisation settings.")
    run: RunSpec = Field(description="Output, seed, precision, checkpoints, logging.")


# An override of one training length clears the other, so `--set optim.max_steps=30` works on a
# config that gives epochs (a TRL / transformers user expects max_steps to win over epochs).
_LENGTHS = ("max_steps", "epochs")


def _clear_replaced_length(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> None:
    given = {
        keys[1]: value
        for keys, value in (parse_override(o) for o in overrides)
        if len(keys) == 2 and keys[0] == "optim"
    }
    optim = data.get("optim")
    for name, other in (_LENGTHS, _LENGTHS[::-1]):
        if given.get(name) is not None and other not in given and isinstance(optim, dict):
            optim.pop(other, None)


def _run_problems(cfg: DistillConfig) -> list[tuple[str, str]]:
    """Rules across run fields, each reported at the field to change."""
    run, problems = cfg.run, []
    if run.parallel == "fsdp" and run.checkpoint_every is not None:
        problems.append(
            (
                "run.checkpoint_every",
                "resumable checkpoints are DDP-only for now: unset it or use run.parallel=ddp",
            )
        )
    if run.eval_every is not None and run.eval_split is None:
        problems.append(("run.eval_every", "scores run.eval_split, which is null; set both or neither"))
    if run.early_stopping is not None:
        fix = "or turn early stopping off with --set run.early_stopping=null"
        if run.eval_split is None:
            problems.append(("run.eval_split", f"early stopping watches a held-out split: name one, {fix}"))
        if run.eval_every is None:
            problems.append(("run.eval_every", f"early stopping evaluates every N steps: set N, {fix}"))
    return problems


def config_reference() -> str:
    """Every field with its description, allowed values and default, from the schema itself (for `--help`)."""
    lines = []
    for section, info in DistillConfig.model_fields.items():
        lines.append(f"{section}: {info.description}")
        if section == "draft":  # one block per `init`
            for model in (PretrainedDraft, FirstLayersDraft, SmallConfigDraft):
                lines += schema_reference(model, "    ")
        else:
            lines += schema_reference(info.annotation)
    return "\n".join(lines)


# Union members pydantic puts in an error's location; the user never wrote them.
_UNION_TAGS = ("pretrained", "first_n_layers", "small_config")


def parse_config(data: dict[str, Any], origin: str = "config") -> DistillConfig:
    try:
        cfg = DistillConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(pydantic_problems(e, _UNION_TAGS), origin=origin) from None
    problems = _run_problems(cfg)
    if problems:
        raise ConfigError(problems, origin=origin)
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> DistillConfig:
    """Read, override, validate. Raises ConfigError listing every problem."""
    data = read_mapping(path, "config")
    apply_overrides(data, overrides, "config")
    _clear_replaced_length(data, overrides)
    return parse_config(data, origin=str(path))
