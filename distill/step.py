"""One objective, three modes: per-target-token losses for a batch (no optimizer, no config objects).

- seqkd:  cross-entropy of the draft on the teacher's sampled response tokens (prompt masked);
- online: divergence(teacher, draft) on the full vocabulary, both at the loss temperature; the
          teacher forward runs here, without gradients, on the same batch (`distill.fused`);
- topk:   divergence on the stored teacher top-k + one rest bucket (`distill.losses`), the draft
          tempered at the temperature the log-probs were stored at: the row's generation
          temperature, or 1.0 for greedy rows (builders store raw log-probs for T = 0, as vLLM does).

Losses are computed in fp32 whatever the autocast dtype: log-softmax over 49k logits in bf16 loses
the small probabilities that KL and JSD weigh.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from distill.fused import online_divergence
from distill.losses import divergence, teacher_topk_with_rest, topk_with_rest
from distill.models import response_logits


@dataclass(frozen=True)
class Objective:
    mode: str  # "seqkd" | "online" | "topk"
    divergence: str = "fkl"
    beta: float = 0.5
    temperature: float | None = None  # online: loss temperature; topk: None = the stored temperature


def stored_temperature(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per target token, the temperature its stored log-probs are under (greedy rows: 1.0)."""
    per_row = batch["temperature"].float()
    per_row = torch.where(per_row > 0, per_row, torch.ones_like(per_row))
    return per_row[:, None].expand_as(batch["target_mask"])[batch["target_mask"]]


def token_losses(
    batch: dict[str, torch.Tensor],
    draft: torch.nn.Module,
    teacher: torch.nn.Module | None,
    objective: Objective,
    vocab: int,
) -> torch.Tensor:
    """Loss per target token, shape (N,), where N = batch["target_mask"].sum()."""
    logits = response_logits(draft, batch, vocab)
    t_logits = None
    if objective.mode == "online":
        assert teacher is not None, "online mode needs the teacher"
        with torch.no_grad():
            t_logits = response_logits(teacher, batch, vocab)
    return losses_from_logits(batch, logits, t_logits, objective)


def losses_from_logits(
    batch: dict[str, torch.Tensor],
    logits: torch.Tensor,
    t_logits: torch.Tensor | None,
    objective: Objective,
) -> torch.Tensor:
    """`token_losses` once the draft's (and, online, the teacher's) response logits are computed."""
    if objective.mode == "seqkd":
        return F.cross_entropy(logits.float(), batch["targets"][batch["target_mask"]], reduction="none")
    if objective.mode == "online":
        assert t_logits is not None, "online mode needs the teacher's logits"
        # Blockwise, gradient in closed form (distill.fused): the N x V passes dominate a small draft's step.
        return online_divergence(
            t_logits, logits, objective.divergence, objective.beta, objective.temperature or 1.0
        )
    logits = logits.float()
    if objective.mode == "topk":
        mask = batch["target_mask"]
        tau = (
            stored_temperature(batch)
            if objective.temperature is None
            else torch.full((logits.shape[0],), objective.temperature, device=logits.device)
        )
        logq = topk_with_rest(logits / tau[:, None], batch["topk_ids"][mask])
        logp = teacher_topk_with_rest(batch["topk_logprobs"][mask])
        return divergence(logp, logq, objective.divergence, objective.beta)
    raise ValueError(f"unknown mode {objective.mode!r}")


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def optimizer_step(
    micro: list[dict[str, torch.Tensor]],
    draft: torch.nn.Module,
    teacher: torch.nn.Module | None,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    vocab: int,
    device: torch.device,
    amp: torch.dtype | None,
    grad_clip: float | None,
) -> float:
    """One optimizer step over `micro` (CPU batches); returns the mean loss over all their target tokens.

    Each micro-batch's loss sum is divided by the step's total target count, so splitting a batch
    into accumulation steps does not change the gradient. The trainer and the benchmark both call this.
    """
    n_targets = sum(int(b["target_mask"].sum()) for b in micro)
    step_loss = torch.zeros((), device=device)
    for batch in micro:
        batch = to_device(batch, device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            losses = token_losses(batch, draft, teacher, objective, vocab)
        loss = losses.sum() / n_targets
        loss.backward()
        step_loss += loss.detach()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(draft.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(step_loss)  # one device sync per step, not per micro-batch
