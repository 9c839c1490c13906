"""Analytic α: acceptance predicted from one teacher-forced pass, without running the sampler.

For held-out teacher samples (prompt + response tokens sampled from the target at temperature T),
the target and the draft each score the whole sequence once; at every response position
β = Σ_x min(p(x), q(x)) with p, q the temperature-T softmaxes, and α = mean β. Because the samples come
from the target's own distribution at T, this estimates the same expectation as the sampler's
empirical α — in one parallel forward per model instead of ~one target forward per 1–5 tokens and one
draft forward per drafted token.

`probe_step_costs` times a few one-token decode steps of each model alone, so the predicted speedup
(1 − α^(k+1)) / ((1 − α)(c·k + 1)) also needs no sampler run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def analytic_alpha(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    samples: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float,
) -> AnalyticAlpha:
    """α over all response positions of `samples` (pairs of prompt ids, response ids) at temperature T."""
    device = next(target.parameters()).device
    t0 = _clock(device)
    betas = [teacher_forced_betas(target, draft, p, r, temperature) for p, r in samples]
    seconds = _clock(device) - t0
    flat = torch.cat(betas) if betas else torch.zeros(0)
    alpha = float(flat.double().mean()) if flat.numel() else float("nan")
    return AnalyticAlpha(
        temperature=temperature,
        alpha=alpha,
        positions=int(flat.numel()),
        samples=len(samples),
        seconds=seconds,
    )


def probe_step_costs(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    prompt_ids: Sequence[int],
    steps: int = 16,
    cache: CacheKind = "dynamic",
) -> dict[str, float]:
    """Seconds per one-token decode step of each model alone (greedy, EOS ignored), and their ratio c."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    for name, model in (("target", target), ("draft", draft)):
        # No EOS: the probe must run exactly `steps` steps.
        dec = AutoregressiveDecoder(model, eos_token_ids=[], cache=cache, max_len=len(prompt_ids) + steps + 8)
        dec.generate(prompt_ids, 2, 0.0)  # warm-up
        gen = dec.generate(prompt_ids, steps, 0.0)
        out[f"{name}_step_s"] = gen.decode_s / max(gen.target_calls, 1)
    out["c"] = out["draft_step_s"] / out["target_step_s"]
    out["seconds"] = time.perf_counter() - t0
    return out
