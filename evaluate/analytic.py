"""Analytic α: acceptance predicted from one teacher-forced pass, without running the sampler.

For held-out teacher samples (prompt + response tokens sampled from the target at temperature T),
the target and the draft each score the whole sequence once; at every response position
β = Σ_x min(p(x), q(x)) with p, q the temperature-T softmaxes, and α = mean β. Because the samples come
from the target's own distribution at T, this estimates the same expectation as the sampler's
empirical α — in one parallel forward per model instead of ~one target forward per 1–5 tokens and one
draft forward per drafted token.

`probe_step_costs` times a few one-token decode steps of each model alone (in the sampler's cache and
compile mode), so the predicted speedup (1 − α^(k+1)) / ((1 − α)(c·k + 1)) also needs no sampler run;
`analytic_betas` keeps the β of every position for the chained prediction (`evaluate.chained`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.kvcache import CacheKind
from evaluate.probs import overlap
from evaluate.specdec import AutoregressiveDecoder, _clock


@dataclass
class AnalyticAlpha:
    temperature: float
    alpha: float
    positions: int  # response tokens scored
    samples: int
    seconds: float  # wall time of the teacher-forced pass (both models + β)


@torch.inference_mode()
def teacher_forced_betas(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    prompt_ids: Sequence[int],
    response_ids: Sequence[int],
    temperature: float,
) -> torch.Tensor:
    """β at each response position of one sample ([len(response)])."""
    r = len(response_ids)
    if r == 0:
        return torch.zeros(0)
    device = next(target.parameters()).device
    ids = torch.as_tensor([list(prompt_ids) + list(response_ids)], dtype=torch.long, device=device)
    # Position len(prompt)-1 predicts response[0]; the last position predicts past the response: drop it.
    p_logits = target(input_ids=ids, logits_to_keep=r + 1).logits[0, :r]
    q_logits = draft(input_ids=ids, logits_to_keep=r + 1).logits[0, :r]
    return overlap(p_logits, q_logits, temperature).cpu()


def analytic_betas(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    samples: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float,
) -> tuple[AnalyticAlpha, list[torch.Tensor]]:
    """α over all response positions of `samples`, and the β of each sample (for `evaluate.chained`)."""
    device = next(target.parameters()).device
    t0 = _clock(device)
    betas = [teacher_forced_betas(target, draft, p, r, temperature) for p, r in samples]
    seconds = _clock(device) - t0
    flat = torch.cat(betas) if betas else torch.zeros(0)
    alpha = float(flat.double().mean()) if flat.numel() else float("nan")
    res = AnalyticAlpha(
        temperature=temperature,
        alpha=alpha,
        positions=int(flat.numel()),
        samples=len(samples),
        seconds=seconds,
    )
    return res, betas


def analytic_alpha(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    samples: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float,
) -> AnalyticAlpha:
    """α over all response positions of `samples` (pairs of prompt ids, response ids) at temperature T."""
    return analytic_betas(target, draft, samples, temperature)[0]


def probe_step_costs(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    prompt_ids: Sequence[int],
    steps: int = 16,
    cache: CacheKind = "dynamic",
    compile_decode: bool = False,
    verify_ks: Sequence[int] = (),
) -> dict[str, Any]:
    """Seconds per one-token decode step of each model alone (greedy, EOS ignored), and their ratio c.

    Run in the sampler's mode: same cache kind and, with `compile_decode`, the same compiled decode
    forwards, warmed up (compiled and, on GPU, graph-captured) before timing. `verify_ks`: also time one
    target forward over k + 1 tokens for each k (the verification of k drafts), as `verify_cost[k]` = that
    time / one target step (1 in the paper's cost model; ~2 on compute-bound CPUs).
    """
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    max_k = max(verify_ks, default=0)
    for name, model in (("target", target), ("draft", draft)):
        # No EOS: the probe must run exactly `steps` steps.
        dec = AutoregressiveDecoder(
            model,
            eos_token_ids=[],
            cache=cache,
            max_len=len(prompt_ids) + steps + max_k + 8,
            compile_decode=compile_decode,
        )
        for _ in range(2 if compile_decode else 1):  # warm-up: compile, then (GPU) capture the graph
            dec.generate(prompt_ids, steps if compile_decode else 2, 0.0)
        gen = dec.generate(prompt_ids, steps, 0.0)
        out[f"{name}_step_s"] = gen.decode_s / max(gen.target_calls, 1)
        if name == "target" and verify_ks:
            out["verify_cost"] = {
                k: _forward_s(dec, len(prompt_ids), k + 1, steps, compile_decode) / out["target_step_s"]
                for k in verify_ks
            }
    out["c"] = out["draft_step_s"] / out["target_step_s"]
    out["compiled"] = compile_decode
    out["seconds"] = time.perf_counter() - t0
    return out


def _forward_s(dec: AutoregressiveDecoder, n: int, width: int, reps: int, warm_twice: bool) -> float:
    """Mean seconds of one decode-path forward over `width` tokens after an n − 1 token prefix."""
    lm, times = dec.lm, []
    for i in range((2 if warm_twice else 1) + reps):
        lm.rollback(n - 1)
        t0 = _clock(lm.device)
        lm.forward(dec.ids[:, n - 1 : n - 1 + width], keep=width)
        if i >= (2 if warm_twice else 1):
            times.append(_clock(lm.device) - t0)
    return sum(times) / len(times)
