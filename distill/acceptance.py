"""Teacher-forced acceptance of a draft: the mean over response positions of sum_x min(p_T(x), q_T(x)).

This is the speculative-sampling acceptance probability of one draft token (1 - TV(p, q)) at the
decoding temperature T, averaged over the positions of held-out teacher samples. T = 0 is greedy
decoding: a draft token is accepted iff both argmaxes agree. Used to show that training helps
(tests) and to report held-out acceptance in the draft's card; `evaluate/` measures real speedups.
"""

from __future__ import annotations

import torch

from distill.data import Example, collate
from distill.models import response_logits
from distill.step import Objective, to_device, token_losses


@torch.no_grad()
def acceptance(
    teacher: torch.nn.Module,
    draft: torch.nn.Module,
    examples: list[Example],
    temperature: float,
    vocab: int,
    pad_id: int,
    batch_size: int = 16,
) -> float:
    device = next(draft.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = to_device(collate(examples[start : start + batch_size], pad_id), device)
        p_logits = response_logits(teacher, batch, vocab).float()
        q_logits = response_logits(draft, batch, vocab).float()
        if temperature == 0:
            per_token = (p_logits.argmax(-1) == q_logits.argmax(-1)).float()
        else:
            p, q = (p_logits / temperature).softmax(-1), (q_logits / temperature).softmax(-1)
            per_token = torch.minimum(p, q).sum(-1)
        total += float(per_token.sum())
        count += per_token.numel()
    return total / max(count, 1)


@torch.no_grad()
def mean_loss(
    draft: torch.nn.Module,
    teacher: torch.nn.Module | None,
    examples: list[Example],
    objective: Objective,
    vocab: int,
    pad_id: int,
    batch_size: int = 16,
) -> float:
    """The training objective averaged over every target token of `examples` (e.g. a held-out split)."""
    device = next(draft.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = to_device(collate(examples[start : start + batch_size], pad_id), device)
        losses = token_losses(batch, draft, teacher, objective, vocab)
        total += float(losses.sum())
        count += losses.numel()
    return total / max(count, 1)
