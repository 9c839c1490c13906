"""Held-out scoring: the objective's loss and the teacher-forced acceptance of a draft.

Acceptance at decoding temperature T is the mean over response positions of sum_x min(p_T(x), q_T(x)):
the speculative-sampling acceptance probability of one draft token (1 - TV(p, q)), averaged over the
positions of held-out teacher samples. T = 0 is greedy decoding: a draft token is accepted iff both
argmaxes agree. The trainer scores it along training through `HeldOut` (the learning curve, early
stopping, the card); `evaluate/` measures real speedups.
"""

from __future__ import annotations

from typing import Any

import torch

from distill.data import Example, collate
from distill.models import plain_head, response_hidden, response_logits
from distill.step import Objective, losses_from_logits, to_device


def accepted(p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per position, the probability that a draft token sampled at `temperature` is accepted."""
    if temperature == 0:
        return (p_logits.argmax(-1) == q_logits.argmax(-1)).float()
    p, q = (p_logits / temperature).softmax(-1), (q_logits / temperature).softmax(-1)
    return torch.minimum(p, q).sum(-1)


class HeldOut:
    """The held-out rows, batched once, and the teacher's side of every evaluation computed once.

    The teacher never changes during training, so its final hidden states at the response positions
    are kept (target tokens x hidden size, in the teacher's dtype) and each evaluation runs only the
    teacher's lm_head and the draft, not the teacher's decoder layers (30 for SmolLM2-135M against a
    4-layer draft's 4). Teachers with logit post-processing (`models.plain_head`) run in full each time.
    """

    def __init__(
        self, teacher: torch.nn.Module, examples: list[Example], vocab: int, pad_id: int, batch_size: int = 16
    ):
        device = next(teacher.parameters()).device
        self.teacher, self.vocab = teacher, vocab
        self.batches = [
            to_device(collate(examples[i : i + batch_size], pad_id), device)
            for i in range(0, len(examples), batch_size)
        ]
        self.hidden = (
            [response_hidden(teacher, b) for b in self.batches] if plain_head(teacher.config) else None
        )

    @torch.no_grad()
    def teacher_logits(self, i: int) -> torch.Tensor:
        if self.hidden is None:
            return response_logits(self.teacher, self.batches[i], self.vocab)
        return self.teacher.get_output_embeddings()(self.hidden[i])[:, : self.vocab]

    @torch.no_grad()
    def score(
        self, draft: torch.nn.Module, temperatures: list[float], objective: Objective
    ) -> dict[str, Any]:
        """{"loss": mean objective per target token, "acceptance": {str(T): alpha}} (draft left in eval)."""
        draft.eval()
        loss_sum, count = 0.0, 0
        agree = dict.fromkeys(temperatures, 0.0)
        for i, batch in enumerate(self.batches):
            t_logits = self.teacher_logits(i)
            logits = response_logits(draft, batch, self.vocab)
            online = objective.mode == "online"
            losses = losses_from_logits(batch, logits, t_logits if online else None, objective)
            loss_sum += float(losses.sum())
            count += losses.numel()
            p_logits, q_logits = t_logits.float(), logits.float()
            for t in temperatures:
                agree[t] += float(accepted(p_logits, q_logits, t).sum())
        count = max(count, 1)
        return {"loss": loss_sum / count, "acceptance": {str(t): agree[t] / count for t in temperatures}}
