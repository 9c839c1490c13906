"""Analytic α: acceptance predicted from one teacher-forced pass, without running the sampler.

For held-out teacher samples (prompt + response tokens sampled from the target at temperature T),
the target and the draft each score the whole sequence once; at every response position
β = Σ_x min(p(x), q(x)) with p, q the temperature-T softmaxes, and α = mean β. Because the samples come
from the target's own distribution at T, this estimates the same expectation as the sampler's
empirical α — in one parallel forward per model instead of ~one target forward per 1–5 tokens and one
draft forward per drafted token.

With the costs from `evaluate.costprobe`, the predicted speedup needs no full sampler run;
`analytic_betas` keeps the β of every position for the chained prediction (`evaluate.chained`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.probs import overlap
from evaluate.specdec import _clock


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
