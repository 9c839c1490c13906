"""Held-out scoring: the objective's loss and the teacher-forced acceptance of a draft.

Acceptance at decoding temperature T is the mean over response positions of sum_x min(p_T(x), q_T(x)):
the speculative-sampling acceptance probability of one draft token (1 - TV(p, q)), averaged over the
positions of held-out teacher samples. T = 0 is greedy decoding: a draft token is accepted iff both
argmaxes agree. The trainer scores it along training (the learning curve, early stopping, the card);
`evaluate/` measures real speedups.
"""

from __future__ import annotations

import torch

from distill.data import Example, collate
from distill.models import response_logits
from distill.step import Objective, losses_from_logits, to_device


def accepted(p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per position, the probability that a draft token sampled at `temperature` is accepted."""
    if temperature == 0:
        return (p_logits.argmax(-1) == q_logits.argmax(-1)).float()
    p, q = (p_logits / temperature).softmax(-1), (q_logits / temperature).softmax(-1)
    return torch.minimum(p, q).sum(-1)


@torch.no_grad()
def held_out(
    teacher: torch.nn.Module,
    draft: torch.nn.Module,
    examples: list[Example],
    temperatures: list[float],
    objective: Objective,
    vocab: int,
    pad_id: int,
    batch_size: int = 16,
) -> dict[str, object]:
    """{"loss": objective per target token, "acceptance": {str(T): alpha}}, one forward per model a batch."""
    device = next(draft.parameters()).device
    loss_sum, count = 0.0, 0
    agree = dict.fromkeys(temperatures, 0.0)
    for start in range(0, len(examples), batch_size):
        batch = to_device(collate(examples[start : start + batch_size], pad_id), device)
        t_logits = response_logits(teacher, batch, vocab)
        logits = response_logits(draft, batch, vocab)
        online = objective.mode == "online"
        losses = losses_from_logits(batch, logits, t_logits if online else None, objective)
        loss_sum += float(losses.sum())
        count += losses.numel()
        p_logits, q_logits = t_logits.float(), logits.float()
        for t in temperatures:
            agree[t] += float(accepted(p_logits, q_logits, t).sum())
    count = max(count, 1)
    return {"loss": loss_sum / count, "acceptance": {str(t): agree[t] / count for t in temperatures}}
