"""evaluate.probs.sample: torch.multinomial's draws without its host syncs (the sampler's losslessness
tests in test_lossless.py rely on it drawing exactly ∝ the weights)."""

from __future__ import annotations

import pytest
import torch

from evaluate.probs import sample


@pytest.mark.parametrize("shape", [(1000,), (4, 1000)])
def test_same_draws_as_multinomial_for_the_same_generator(shape):
    weights = torch.softmax(torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 3, dim=-1)
    for seed in range(20):
        expected = torch.multinomial(weights, 1, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(sample(weights, torch.Generator().manual_seed(seed)), expected)


def test_unnormalised_weights_and_zero_weight_never_drawn():
    weights = torch.tensor([[0.0, 2.0, 6.0, 0.0]])  # ∝ (0, 1/4, 3/4, 0)
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([sample(weights, g) for _ in range(4000)]).flatten()
    assert set(draws.tolist()) <= {1, 2}
    share = (draws == 2).float().mean().item()
    assert abs(share - 0.75) < 4 * (0.75 * 0.25 / 4000) ** 0.5  # within 4 standard errors
