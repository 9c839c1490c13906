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


# Logit elements (batch x length x vocabulary) one teacher-forced forward may hold per model: 2^27 fp32 values
# are 512 MiB, ~9 GSM8K samples of SmolLM2's 49,152-token vocabulary per forward.
LOGIT_BUDGET = 1 << 27


@torch.inference_mode()
def teacher_forced_betas(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    prompt_ids: Sequence[int],
    response_ids: Sequence[int],
    temperature: float,
) -> torch.Tensor:
    """β at each response position of one sample ([len(response)])."""
    return batched_betas(target, draft, [(prompt_ids, response_ids)], temperature)[0]


@torch.inference_mode()
def batched_betas(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    samples: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float,
) -> list[torch.Tensor]:
    """β at each response position of every sample, several samples per forward (right-padded: causal
    attention keeps each row's real positions exactly what they are alone). One forward per sample is
    bound by kernel launches on a GPU; batching is the analytic α's and the search's scoring speed."""
    vocab = target.get_output_embeddings().weight.shape[0]
    chunks: list[list[tuple[Sequence[int], Sequence[int]]]] = []
    chunk: list[tuple[Sequence[int], Sequence[int]]] = []
    longest = 0
    for prompt, response in samples:
        n = len(prompt) + len(response)
        if chunk and (len(chunk) + 1) * max(longest, n) * vocab > LOGIT_BUDGET:
            chunks.append(chunk)
            chunk, longest = [], 0
        chunk.append((prompt, response))
        longest = max(longest, n)
    chunks += [chunk] if chunk else []
    return [beta for c in chunks for beta in _chunk_betas(target, draft, c, temperature)]


def _chunk_betas(target, draft, chunk, temperature: float) -> list[torch.Tensor]:
    device = next(target.parameters()).device
    lengths = [len(p) + len(r) for p, r in chunk]
    ids = torch.zeros((len(chunk), max(lengths)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (p, r) in enumerate(chunk):
        ids[i, : lengths[i]] = torch.as_tensor([*p, *r], dtype=torch.long)
        mask[i, : lengths[i]] = 1
    ids, mask = ids.to(device), mask.to(device)
    # Logits from the earliest scored position on (the shortest prompt's last token): the lm_head skips
    # what no row scores; one sample alone keeps exactly its response's positions.
    first = min(len(p) for p, _ in chunk) - 1
    keep = ids.shape[1] - first
    p_logits = target(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    q_logits = draft(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    betas = []
    for i, (p, r) in enumerate(chunk):
        # Position len(prompt)-1 predicts response[0]; the last response token predicts past it: not scored.
        window = slice(len(p) - 1 - first, len(p) - 1 - first + len(r))
        betas.append(overlap(p_logits[i, window], q_logits[i, window], temperature).cpu())
    return betas


def analytic_betas(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    samples: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float,
) -> tuple[AnalyticAlpha, list[torch.Tensor]]:
    """α over all response positions of `samples`, and the β of each sample (for `evaluate.chained`)."""
    device = next(target.parameters()).device
    t0 = _clock(device)
    betas = batched_betas(target, draft, samples, temperature)
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
