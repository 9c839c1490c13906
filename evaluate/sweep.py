"""The sweep behind `python -m evaluate run`: decoding temperatures × drafts on the same held-out prompts.

Order (each timed part is warmed up first, so lazy initialisation is not billed to anyone):
  1. load the target and the prompts;
  2. per temperature, the target alone (our KV-cached loop; also transformers `generate` when the
     assisted baseline is on) — its outputs double as teacher samples for the analytic α when the
     dataset has none at that temperature;
  3. per draft: probe c, then per temperature the speculative sampler, the analytic α from one
     teacher-forced pass, and the baselines.
Returns the results dict that `report.write_report` turns into JSON, Markdown and plots.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from builders.hardware import cpu_has_native_bf16
from evaluate.analytic import analytic_alpha, probe_step_costs
from evaluate.baselines import hf_generate
from evaluate.config import OFFLINE_ALIASES, EvalConfig
from evaluate.costmodel import predicted_speedup
from evaluate.drafts import read_draft_info
from evaluate.env import environment
from evaluate.metrics import speculative_summary, target_alone_summary
from evaluate.prompts import load_prompt_set
from evaluate.runs import progress_printer, run_prompts, stop_token_ids
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def model_path(name: str) -> str:
    if name.lower() in OFFLINE_ALIASES:
        from builders.teacher import resolve_teacher

        return resolve_teacher(name).path
    return name


def load_model(path: str, device: str, dtype: str):
    from transformers import AutoModelForCausalLM

    if dtype == "auto" and device == "cpu" and not cpu_has_native_bf16():
        dtype = "float32"
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    return model.to(torch.device(device)).eval()  # type: ignore[arg-type]


def run_decoder(decoder, prompts: list[list[int]], cfg: EvalConfig, temperature: float, label: str):
    """Warm-up, then one seeded generation per prompt, with a progress line per prompt."""
    return run_prompts(
        decoder,
        prompts,
        cfg.max_new_tokens,
        temperature,
        cfg.seed,
        warmup_tokens=2 * cfg.k + 2,
        on_prompt=progress_printer(f"[evaluate] {label}", temperature),
    )


def _hf(target, prompts, cfg: EvalConfig, temperature: float, eos: list[int], pad: int, assistant=None):
    # Warm-up first: the first generate() call pays for lazy initialisation.
    hf_generate(target, prompts[:1], 4, temperature, cfg.seed, eos, pad, assistant=assistant, k=cfg.k)
    run = hf_generate(
        target, prompts, cfg.max_new_tokens, temperature, cfg.seed, eos, pad, assistant=assistant, k=cfg.k
    )
    return run.to_dict()


def run_sweep(cfg: EvalConfig, command: str) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from builders.errors import TempdraftError

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    started = time.time()

    # 1. Target, tokenizer, prompts.
    target_path = model_path(cfg.target)
    tokenizer = AutoTokenizer.from_pretrained(target_path)
    target = load_model(target_path, device, cfg.dtype)
    eos = stop_token_ids(tokenizer, target)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    prompt_set = load_prompt_set(cfg.prompts, tokenizer, cfg.num_prompts, cfg.split, cfg.prompt_column)
    prompts = prompt_set.prompts
    max_len = max(len(p) for p in prompts) + cfg.max_new_tokens + cfg.k + 2
    hf_on = "assisted" in cfg.baselines

    # 2. Target alone per temperature.
    alone_dec = AutoregressiveDecoder(target, eos, cfg.cache, max_len, cfg.compile)
    alone: dict[float, list[Generation]] = {}
    alone_rows: dict[str, Any] = {}
    for t in cfg.temperatures:
        alone[t] = run_decoder(alone_dec, prompts, cfg, t, "target alone")
        alone_rows[f"{t:g}"] = {"temperature": t, **target_alone_summary(alone[t])}
        if hf_on:
            alone_rows[f"{t:g}"]["transformers_generate"] = _hf(target, prompts, cfg, t, eos, pad)
    del alone_dec
    vllm_alone = _vllm(target_path, None, prompts, eos, cfg) if "vllm" in cfg.baselines else None

    # 3. Drafts.
    drafts_out = []
    spec_dec: SpeculativeDecoder | None = None
    for d_index, draft_name in enumerate(cfg.drafts):
        info = read_draft_info(draft_name)
        label = f"draft {d_index + 1}/{len(cfg.drafts)} {info.name!r}"
        draft = load_model(model_path(draft_name), device, cfg.dtype)
        if draft.get_output_embeddings().weight.shape[0] != target.get_output_embeddings().weight.shape[0]:
            raise TempdraftError(f"draft {draft_name!r} does not share the target's vocabulary")
        probe = probe_step_costs(target, draft, prompts[0], steps=16, cache=cfg.cache)
        if spec_dec is not None and spec_dec.accepts_draft(draft):
            spec_dec.swap_draft(draft)  # same architecture: keep the decoder and its compiled graphs
        else:
            spec_dec = SpeculativeDecoder(target, draft, cfg.k, eos, cfg.cache, max_len, cfg.compile)
        rows = []
        for t in cfg.temperatures:
            gens = run_decoder(spec_dec, prompts, cfg, t, label)
            row: dict[str, Any] = {"temperature": t, **speculative_summary(gens, alone_rows[f"{t:g}"], cfg.k)}
            if cfg.analytic:
                row["analytic"] = _analytic(
                    target, draft, prompt_set, alone[t], prompts, t, cfg, gens, row, probe
                )
            if hf_on:
                hf_alone = alone_rows[f"{t:g}"]["transformers_generate"]
                assisted = _hf(target, prompts, cfg, t, eos, pad, assistant=draft)
                assisted["speedup_vs_transformers_generate"] = (
                    hf_alone["s_per_token"] / assisted["s_per_token"]
                )
                assisted["speedup_vs_target_alone"] = (
                    alone_rows[f"{t:g}"]["s_per_token_e2e"] / assisted["s_per_token"]
                )
                row["assisted"] = assisted
            rows.append(row)
        if vllm_alone is not None:
            _attach_vllm(rows, vllm_alone, _vllm(target_path, model_path(draft_name), prompts, eos, cfg))
        drafts_out.append(
            {
                "name": info.name,
                "path": draft_name,
                "kd_temperature": info.kd_temperature,
                "cost_probe": probe,
                "results": rows,
            }
        )
        del draft  # the decoder holds a copy of its weights (swap_draft) or the model itself

    return {
        "command": command,
        "config": cfg.model_dump(),
        "environment": environment(device),
        "target": {"name": cfg.target, "path": target_path, "eos_token_ids": eos},
        "prompts": {
            "source": prompt_set.source,
            "count": len(prompts),
            "prompt_ids": prompt_set.prompt_ids,
            "mean_prompt_tokens": sum(map(len, prompts)) / len(prompts),
            "dataset_teacher": prompt_set.manifest.get("teacher"),
        },
        "target_alone": alone_rows,
        "drafts": drafts_out,
        "wall_s": time.time() - started,
    }


def _analytic(target, draft, prompt_set, alone_gens, prompts, t, cfg, gens, row, probe) -> dict[str, Any]:
    samples = prompt_set.samples_at(t, cfg.analytic_samples)
    source = "dataset"
    if not samples:  # fresh target samples at T are teacher samples too
        samples = [(p, g.tokens) for p, g in zip(prompts, alone_gens, strict=True)][: cfg.analytic_samples]
        source = "target-alone outputs"
    res = analytic_alpha(target, draft, samples, t)
    sampler_s = sum(g.prefill_s + g.decode_s for g in gens)
    return {
        "alpha": res.alpha,
        "positions": res.positions,
        "samples": res.samples,
        "source": source,
        "seconds": res.seconds,
        "abs_diff_vs_empirical": abs(res.alpha - row["alpha"]),
        "predicted_speedup": predicted_speedup(res.alpha, cfg.k, probe["c"]),
        "predicted_speedup_empirical_c": predicted_speedup(res.alpha, cfg.k, row["c"]),
        "sampler_seconds": sampler_s,
        "time_ratio": sampler_s / res.seconds if res.seconds else float("nan"),
        # Same number of scored positions on both sides: what an α estimate of equal size costs.
        "time_ratio_per_position": (
            (sampler_s / max(row["alpha_positions"], 1)) / (res.seconds / res.positions)
            if res.seconds and res.positions
            else float("nan")
        ),
    }


def _vllm(
    target_path: str, draft_path: str | None, prompts, eos: list[int], cfg: EvalConfig
) -> dict[str, Any]:
    """vLLM alone (draft None) or with draft-model speculative decoding, every temperature in one engine."""
    try:
        import vllm  # noqa: F401

        from evaluate.vllm_baseline import run_vllm
    except ImportError as e:
        return {"skipped": f"vllm not importable: {e}"}
    return run_vllm(
        target_path, draft_path, prompts, cfg.temperatures, cfg.k, cfg.max_new_tokens, cfg.seed, eos
    )


def _attach_vllm(rows: list[dict[str, Any]], alone: dict[str, Any], spec: dict[str, Any]) -> None:
    for row in rows:
        key = f"{row['temperature']:g}"
        if "skipped" in alone or "skipped" in spec:
            row["vllm"] = {"skipped": alone.get("skipped") or spec.get("skipped")}
            continue
        a, s = alone["results"][key], spec["results"][key]
        row["vllm"] = {
            "version": spec["version"],
            "target_alone_tokens_per_s": a["tokens_per_s"],
            "speculative_tokens_per_s": s["tokens_per_s"],
            "speedup": s["tokens_per_s"] / a["tokens_per_s"] if a["tokens_per_s"] else float("nan"),
            "spec_decode_counters": s.get("spec_decode_counters", {}),
        }
