"""The sweep behind `python -m evaluate run`: decoding temperatures × drafts on the same held-out prompts.

Order (each timed part is warmed up first, so lazy initialisation is not billed to anyone):
  1. load the target and the prompts;
  2. per temperature, the target alone (our KV-cached loop; also transformers `generate` when the
     assisted baseline is on) — its outputs double as teacher samples for the analytic α when the
     dataset has none at that temperature;
  3. per draft: probe c (and, for k: auto, the verify cost of each k) in the sampler's cache/compile mode;
     then per temperature the analytic α and per-position β from one teacher-forced pass, the chained
     prediction of tokens per call (k = 1..k_max for auto, else at k), the chosen k (auto), the speculative
     sampler at that k (with measure_every_k also at every other priced k) - with baseline_timing
     interleaved (the default) the target alone again beside it, prompt by prompt, and the measured
     speedup against that - and the baselines.
k: auto picks, per temperature, the k with the highest predicted speedup tokens_per_call(k) / (c·k + v(k))
(`evaluate.chained.best_k`, v = measured verify cost), tokens_per_call from β with start positions weighted
like the sampler's steps (`chained_acceptance(weighting="steps")`; the uniform average is reported beside).
When no k beats the target alone (chosen k = 0) the sampler still runs at k = 1, so the row keeps a
measured number next to the "do not speculate" verdict.
Prints each phase's wall time and an overall ETA. Returns the results dict `report.write_report` writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from core.hardware import cpu_has_native_bf16
from evaluate.analytic import analytic_betas
from evaluate.baselines import hf_generate
from evaluate.chained import ChainedEstimate, best_k, chained_acceptance, chained_speedup
from evaluate.config import OFFLINE_ALIASES, EvalConfig
from evaluate.costmodel import expected_tokens_per_call, predicted_speedup
from evaluate.costprobe import probe_step_costs
from evaluate.drafts import read_draft_info
from evaluate.env import environment
from evaluate.metrics import full_step_tokens_per_call, speculative_summary, target_alone_summary
from evaluate.probs import is_greedy
from evaluate.prompts import load_prompt_set
from evaluate.runs import (
    PhaseClock,
    SweepProgress,
    progress_printer,
    run_interleaved,
    run_prompts,
    stop_token_ids,
)
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def model_path(name: str) -> str:
    if name.lower() in OFFLINE_ALIASES:
        from core.teacher import resolve_teacher

        return resolve_teacher(name).path
    return name


def load_model(path: str, device: str, dtype: str):
    from transformers import AutoModelForCausalLM

    if dtype == "auto" and device == "cpu" and not cpu_has_native_bf16():
        dtype = "float32"
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    return model.to(torch.device(device)).eval()  # type: ignore[arg-type]


def run_decoder(
    decoder, prompts: list[list[int]], cfg: EvalConfig, temperature: float, label: str, sweep, k: int
):
    """Warm-up, then one seeded generation per prompt, with a progress line per prompt (`k`: drafts per
    step of a speculative decoder; ignored for the target alone)."""
    spec = isinstance(decoder, SpeculativeDecoder)
    return run_prompts(
        decoder,
        prompts,
        cfg.max_new_tokens,
        temperature,
        cfg.seed,
        warmup_tokens=2 * k + 2,
        on_prompt=progress_printer(f"[evaluate] {label}", temperature, sweep),
        k=k if spec else None,
    )


def _hf(
    target, prompts, cfg: EvalConfig, temperature: float, eos: list[int], pad: int, k: int, assistant=None
):
    # Warm-up first: the first generate() call pays for lazy initialisation.
    hf_generate(target, prompts[:1], 4, temperature, cfg.seed, eos, pad, assistant=assistant, k=k)
    run = hf_generate(
        target, prompts, cfg.max_new_tokens, temperature, cfg.seed, eos, pad, assistant=assistant, k=k
    )
    return run.to_dict()


def _load_target_and_prompts(cfg: EvalConfig, device: str):
    """The target (path, model, stop ids, pad id) and the held-out prompt set; says so when it is short."""
    import sys

    from transformers import AutoTokenizer

    target_path = model_path(cfg.target)
    tokenizer = AutoTokenizer.from_pretrained(target_path)
    target = load_model(target_path, device, cfg.dtype)
    eos = stop_token_ids(tokenizer, target)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    prompt_set = load_prompt_set(cfg.prompts, tokenizer, cfg.num_prompts, cfg.split, cfg.prompt_column)
    if len(prompt_set.prompts) < cfg.num_prompts:  # a small held-out split: say so, never run fewer silently
        print(
            f"[evaluate] note: {prompt_set.source} holds {len(prompt_set.prompts)} prompt(s), fewer than "
            f"num_prompts {cfg.num_prompts}; evaluating {len(prompt_set.prompts)}",
            file=sys.stderr,
            flush=True,
        )
    return target_path, target, eos, pad, prompt_set


def run_sweep(cfg: EvalConfig, command: str) -> dict[str, Any]:
    import sys

    from core.errors import TempdraftError

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    started = time.time()
    clock = PhaseClock()
    k_top = cfg.k_top

    # 1. Target, tokenizer, prompts.
    with clock("load"):
        target_path, target, eos, pad, prompt_set = _load_target_and_prompts(cfg, device)
    prompts = prompt_set.prompts
    max_len = max(len(p) for p in prompts) + cfg.max_new_tokens + k_top + 2
    hf_on = "assisted" in cfg.baselines
    runs_per_draft = len(_priced_ks(cfg)) if cfg.measure_every_k else 1  # the chosen k, or every priced k
    runs_per_draft *= 2 if cfg.baseline_timing == "interleaved" else 1  # the target alone beside each
    cells = len(cfg.temperatures) * (1 + runs_per_draft * len(cfg.drafts))
    hf_cells = len(cfg.temperatures) * (1 + len(cfg.drafts)) if hf_on else 0  # generate, assisted at one k
    sweep = SweepProgress(len(prompts) * (cells + hf_cells))

    # 2. Target alone per temperature.
    alone_dec = AutoregressiveDecoder(target, eos, cfg.cache, max_len, cfg.compile)
    run = _Run(cfg, target, alone_dec, prompt_set, eos, pad, hf_on, sweep, clock)
    _target_alone(run)
    resolved_dtype = str(target.dtype).removeprefix("torch.")
    vllm_alone = None
    if "vllm" in cfg.baselines:
        with clock("baseline: vLLM"):
            vllm_alone = _vllm(target_path, None, prompts, eos, cfg, cfg.temperatures, k_top, resolved_dtype)

    # 3. Drafts.
    drafts_out = []
    spec_dec: SpeculativeDecoder | None = None
    for d_index, draft_name in enumerate(cfg.drafts):
        info = read_draft_info(draft_name)
        label = f"draft {d_index + 1}/{len(cfg.drafts)} {info.name!r}"
        with clock("load"):
            draft = load_model(model_path(draft_name), device, cfg.dtype)
        if draft.get_output_embeddings().weight.shape[0] != target.get_output_embeddings().weight.shape[0]:
            raise TempdraftError(f"draft {draft_name!r} does not share the target's vocabulary")
        if spec_dec is not None and spec_dec.accepts_draft(draft):
            spec_dec.swap_draft(draft)  # same architecture: keep the decoder and its compiled graphs
        else:
            spec_dec = SpeculativeDecoder(target, draft, k_top, eos, cfg.cache, max_len, cfg.compile)
        with clock("cost probe"):
            probes = _probe_costs(cfg, run.alone_dec, spec_dec, prompts[0])
        rows = [
            _draft_row(run, spec_dec, draft, probes[_probe_path(t, cfg.temperatures)], label, t)
            for t in cfg.temperatures
        ]
        if vllm_alone is not None:
            with clock("baseline: vLLM"):
                _vllm_rows(
                    rows, vllm_alone, target_path, model_path(draft_name), prompts, eos, cfg, resolved_dtype
                )
        drafts_out.append(
            {
                "name": info.name,
                "path": draft_name,
                "kd_temperature": info.kd_temperature,
                "cost_probe": probes[max(probes)],  # the sampled path's when the sweep has one
                "cost_probes": {f"{path:g}": p for path, p in probes.items()},
                "results": rows,
            }
        )
        del draft  # the decoder holds its own copy of the draft's weights

    print(f"[evaluate] phase costs: {clock.summary()}", file=sys.stderr, flush=True)
    return _results(run, command, device, target_path, resolved_dtype, drafts_out, started)


def _probe_costs(cfg: EvalConfig, alone_dec: AutoregressiveDecoder, spec_dec, prompt: list[int]):
    """The sampler's step costs per decoding path the sweep runs (greedy and sampling steps differ), in
    steps of the sweep's own target-alone decoder."""
    return {
        path: probe_step_costs(
            alone_dec.lm.model,
            spec_dec.draft.model,  # the module the sampler decodes with (its copy of the draft)
            prompt,
            steps=16,
            cache=cfg.cache,
            compile_decode=cfg.compile,
            verify_ks=_priced_ks(cfg),
            temperature=path,
            decoder=spec_dec,
            rounds=cfg.probe_rounds,
            alone=alone_dec,
        )
        for path in sorted({_probe_path(t, cfg.temperatures) for t in cfg.temperatures})
    }


def _priced_ks(cfg: EvalConfig) -> list[int]:
    """The k's the probe prices: k: auto's choices (a full step of k drafts needs k + 2 tokens of room), or
    the fixed k."""
    return list(range(1, max(1, min(cfg.k_top, cfg.max_new_tokens - 2)) + 1)) if cfg.auto_k else [cfg.k_top]


def _probe_path(t: float, temperatures: list[float]) -> float:
    """The temperature whose probe prices decoding at `t`: 0 for greedy, else the sweep's highest T."""
    return 0.0 if is_greedy(t) else max(temperatures)


@dataclass
class _Run:
    """What every cell of one sweep shares (the target, its prompts, the target-alone results)."""

    cfg: EvalConfig
    target: Any
    alone_dec: AutoregressiveDecoder  # the target alone: the first pass, and beside each sampler run
    prompt_set: Any
    eos: list[int]
    pad: int
    hf_on: bool
    sweep: Any
    clock: Any
    alone: dict[float, list[Generation]] = field(default_factory=dict)
    alone_rows: dict[str, Any] = field(default_factory=dict)

    @property
    def prompts(self) -> list[list[int]]:
        return self.prompt_set.prompts


def _target_alone(run: _Run) -> None:
    cfg = run.cfg
    for t in cfg.temperatures:
        with run.clock("target alone"):
            run.alone[t] = run_decoder(run.alone_dec, run.prompts, cfg, t, "target alone", run.sweep, 1)
        run.alone_rows[f"{t:g}"] = {"temperature": t, **target_alone_summary(run.alone[t])}
        if run.hf_on:
            with run.clock("baseline: transformers generate"):
                hf = _hf(run.target, run.prompts, cfg, t, run.eos, run.pad, cfg.k_top)
            run.alone_rows[f"{t:g}"]["transformers_generate"] = hf
            run.sweep.advance(len(run.prompts))


def _draft_row(run: _Run, spec_dec, draft, probe: dict[str, Any], label: str, t: float) -> dict[str, Any]:
    """One (draft, temperature) cell: analytic α and chained curve, the chosen k, the sampler, baselines."""
    cfg, clock = run.cfg, run.clock
    analytic, source, chained = None, "", []
    if cfg.analytic:
        with clock("analytic (teacher-forced)"):
            analytic, source, chained = _teacher_forced(
                run.target, draft, run.prompt_set, run.alone[t], run.prompts, t, cfg
            )
    curve = _curve(chained, probe) if chained else []
    stepwise = [est for est, _ in chained]
    chosen = best_k(stepwise, probe["c"], probe["verify_cost"])[0] if cfg.auto_k else cfg.k_top
    run_k = max(chosen, 1)  # chosen 0 = "do not speculate": still measured, at k = 1
    gens, alone = _sampler(run, spec_dec, label, t, run_k)
    alone_row = run.alone_rows[f"{t:g}"]
    row: dict[str, Any] = {"temperature": t, "k": run_k, **speculative_summary(gens, alone, run_k)}
    row["baseline_timing"] = cfg.baseline_timing
    mean, se, steps = full_step_tokens_per_call(gens, run_k)
    row["tokens_per_call_full_steps"] = {"mean": mean, "se": se, "steps": steps}
    if analytic is not None:
        row["analytic"] = _analytic_row(analytic, source, curve, run_k, gens, row, probe)
    if cfg.auto_k:
        row["k_auto"] = {"c": probe["c"], "weighting": "steps", "curve": curve, "chosen_k": chosen}
        if cfg.measure_every_k:
            _measure_curve(run, spec_dec, curve, label, t, run_k, row)
    if run.hf_on:
        with clock("baseline: assisted generation"):
            assisted = _hf(run.target, run.prompts, cfg, t, run.eos, run.pad, run_k, assistant=draft)
        run.sweep.advance(len(run.prompts))
        assisted["k"] = run_k
        assisted["speedup_vs_transformers_generate"] = (
            alone_row["transformers_generate"]["s_per_token"] / assisted["s_per_token"]
        )
        beside = target_alone_summary(alone)  # the target alone this row's speedup is measured against
        assisted["speedup_vs_target_alone"] = beside["s_per_token_e2e"] / assisted["s_per_token"]
        row["assisted"] = assisted
    return row


def _sampler(run: _Run, spec_dec, label: str, t: float, k: int) -> tuple[list[Generation], list[Generation]]:
    """The sampler at `k` on every prompt, and the target-alone generations its speedup is measured against:
    run beside it prompt by prompt (baseline_timing: interleaved), or the sweep's first pass at `t`."""
    cfg = run.cfg
    with run.clock("speculative sampler"):
        if cfg.baseline_timing == "once":
            return run_decoder(spec_dec, run.prompts, cfg, t, label, run.sweep, k), run.alone[t]
        show = progress_printer(f"[evaluate] {label} (target alone interleaved)", t, run.sweep, 2)
        return run_interleaved(
            spec_dec,
            run.alone_dec,
            run.prompts,
            cfg.max_new_tokens,
            t,
            cfg.seed,
            k=k,
            warmup_tokens=2 * k + 2,
            on_prompt=show,
            warm_alone=False,  # _target_alone ran it (compiled: captured its graph) at every temperature
        )


def _measure_curve(run: _Run, spec_dec, curve, label: str, t: float, run_k: int, row: dict[str, Any]) -> None:
    """measure_every_k: the sampler at each other k of the curve (the k's the probe priced); each point
    gains `measured_speedup` with its 95% interval over prompts (`row`: the run at the chosen k)."""
    for point in curve:
        measured = row
        if point["k"] != run_k:
            gens, alone = _sampler(run, spec_dec, f"{label} k={point['k']}", t, point["k"])
            measured = speculative_summary(gens, alone, point["k"])
        for key in ("", "_low", "_high"):
            point[f"measured_speedup{key}"] = measured[f"speedup{key}"]


def _vllm_rows(rows, vllm_alone, target_path, draft_path, prompts, eos, cfg: EvalConfig, dtype: str) -> None:
    """vLLM draft-model speculative decoding beside each row: one engine per k the rows ran at."""
    for k in sorted({r["k"] for r in rows}):
        temps = [r["temperature"] for r in rows if r["k"] == k]
        spec = _vllm(target_path, draft_path, prompts, eos, cfg, temps, k, dtype)
        _attach_vllm([r for r in rows if r["k"] == k], vllm_alone, spec)


def _results(
    run: _Run, command: str, device: str, target_path: str, dtype: str, drafts_out, started: float
) -> dict[str, Any]:
    cfg, prompt_set, prompts = run.cfg, run.prompt_set, run.prompts
    return {
        "command": command,
        "config": cfg.model_dump(),
        "environment": environment(device),
        "target": {"name": cfg.target, "path": target_path, "eos_token_ids": run.eos, "dtype": dtype},
        "prompts": {
            "source": prompt_set.source,
            "count": len(prompts),
            "prompt_ids": prompt_set.prompt_ids,
            "mean_prompt_tokens": sum(map(len, prompts)) / len(prompts),
            "dataset_teacher": prompt_set.manifest.teacher if prompt_set.manifest is not None else None,
        },
        "target_alone": run.alone_rows,
        "drafts": drafts_out,
        "phase_seconds": run.clock.seconds,
        "wall_s": time.time() - started,
    }


def _teacher_forced(target, draft, prompt_set, alone_gens, prompts, t, cfg: EvalConfig):
    """Analytic α and the chained estimates for k = 1..k_max (auto) or 1..k, from held-out teacher samples."""
    samples = prompt_set.samples_at(t, cfg.analytic_samples)
    source = "dataset"
    if not samples:  # fresh target samples at T are teacher samples too
        samples = [(p, g.tokens) for p, g in zip(prompts, alone_gens, strict=True)][: cfg.analytic_samples]
        source = "target-alone outputs"
    res, betas = analytic_betas(target, draft, samples, t)
    uniform = chained_acceptance(betas, cfg.k_top)
    return (
        res,
        source,
        list(zip(chained_acceptance(betas, cfg.k_top, weighting="steps"), uniform, strict=True)),
    )


def _curve(
    chained: list[tuple[ChainedEstimate, ChainedEstimate]], probe: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per k the probe timed: tokens per call predicted from β with step weighting (what the sampler's
    mean over steps estimates, and what k: auto maximizes) and with every start position alike (the
    issue's E[accepted | k] formula), each with its 95% interval; and the predicted speedup."""
    out = []
    for est, uniform in chained:
        if est.k not in probe["verify_cost"]:
            continue
        v = probe["verify_cost"][est.k]
        cost = probe["c"] * est.k + v
        out.append(
            {
                "k": est.k,
                "tokens_per_call": est.tokens_per_call,
                "low": est.low,
                "high": est.high,
                "verify_cost": v,
                "predicted_speedup": chained_speedup(est, probe["c"], v),
                "predicted_speedup_low": est.low / cost,
                "predicted_speedup_high": est.high / cost,
                "tokens_per_call_uniform_starts": uniform.tokens_per_call,
                "low_uniform_starts": uniform.low,
                "high_uniform_starts": uniform.high,
                "windows": uniform.windows,
            }
        )
    return out


def _analytic_row(res, source: str, curve, k: int, gens, row, probe) -> dict[str, Any]:
    sampler_s = sum(g.prefill_s + g.decode_s for g in gens)
    at_k = next((c for c in curve if c["k"] == k), None)
    return {
        "alpha": res.alpha,
        "positions": res.positions,
        "samples": res.samples,
        "source": source,
        "seconds": res.seconds,
        "abs_diff_vs_empirical": abs(res.alpha - row["alpha"]),
        # i.i.d. prediction from the analytic α, and the chained one from the same β's, at the run's k.
        "iid_tokens_per_call": expected_tokens_per_call(res.alpha, k),
        "chained": at_k,
        "predicted_speedup": predicted_speedup(res.alpha, k, probe["c"]),
        "predicted_speedup_empirical_c": predicted_speedup(res.alpha, k, row["c"]),
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
    target_path: str,
    draft_path: str | None,
    prompts,
    eos: list[int],
    cfg: EvalConfig,
    temperatures: list[float],
    k: int,
    dtype: str,
) -> dict[str, Any]:
    """vLLM alone (draft None) or with draft-model speculative decoding at k, `temperatures` in one engine."""
    try:
        import vllm  # noqa: F401

        from evaluate.vllm_baseline import run_vllm
    except ImportError as e:
        return {"skipped": f"vllm not importable: {e}"}
    return run_vllm(
        target_path, draft_path, prompts, temperatures, k, cfg.max_new_tokens, cfg.seed, eos, dtype=dtype
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
            "k": spec.get("k"),
            "dtype": spec.get("dtype"),
            "draft_sample_method": spec.get("draft_sample_method"),
            "target_alone_tokens_per_s": a["tokens_per_s"],
            "speculative_tokens_per_s": s["tokens_per_s"],
            "speedup": s["tokens_per_s"] / a["tokens_per_s"] if a["tokens_per_s"] else float("nan"),
            "spec_decode_counters": s.get("spec_decode_counters", {}),
        }
