"""Temperature-scaled distributions and their overlap.

p and q are softmax(logits / T) at the *decoding* temperature. T = 0 means greedy: the distribution is
the one-hot argmax, so the overlap β = Σ_x min(p(x), q(x)) is 1 when the argmaxes agree and 0 otherwise,
which is exactly the greedy acceptance rule.
"""

from __future__ import annotations

import torch


def is_greedy(temperature: float) -> bool:
    return temperature <= 0.0


def softmax_t(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Float32 probabilities at temperature T > 0 (logits may be bf16; the division happens in fp32)."""
    return torch.softmax(logits.float() / temperature, dim=-1)


def sample(weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of `weights` (≥ 0, any scale), drawn ∝ weights: argmax(w / E) with E ~ Exp(1).

    This is the algorithm `torch.multinomial(weights, 1)` itself runs (same noise, same draws for a given
    generator), without its host-side validity checks: those call `.item()` twice, i.e. two device syncs
    per draw, which on a GPU stall the sampler after every draft token."""
    noise = torch.empty_like(weights, dtype=torch.float32).exponential_(1, generator=generator)
    return (weights / noise).argmax(-1, keepdim=True)


def overlap(p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """β = Σ_x min(p(x), q(x)) per row, from logits at temperature T (T = 0: argmax agreement)."""
    if is_greedy(temperature):
        return (p_logits.argmax(-1) == q_logits.argmax(-1)).float()
    return torch.minimum(softmax_t(p_logits, temperature), softmax_t(q_logits, temperature)).sum(-1)
