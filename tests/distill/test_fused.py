"""The fused online divergence: same values and same gradients as plain autograd through log_softmax."""

from __future__ import annotations

import pytest
import torch

import distill.fused as fused
from distill.fused import online_divergence
from distill.losses import divergence


@pytest.mark.parametrize("kind", ["fkl", "rkl", "tvd", "jsd"])
@pytest.mark.parametrize("tau", [1.0, 0.7])
def test_values_and_gradients_match_autograd(kind, tau, monkeypatch):
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", 3 * 40)  # several blocks of 3 rows: blocking must not matter
    g = torch.Generator().manual_seed(0)
    t = torch.randn(10, 40, generator=g, dtype=torch.float64) * 3
    z = (torch.randn(10, 40, generator=g, dtype=torch.float64) * 3).requires_grad_()
    weights = torch.rand(10, generator=g, dtype=torch.float64)  # per-row weights, as in a token mean

    got = online_divergence(t, z, kind, beta=0.3, tau=tau)
    (grad_got,) = torch.autograd.grad((got * weights).sum(), z)
    expected = divergence((t / tau).log_softmax(-1), (z / tau).log_softmax(-1), kind, beta=0.3)
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), z)

    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grad_got, grad_expected)


def test_bf16_logits_get_fp32_losses_and_bf16_gradients():
    t = torch.randn(4, 32).to(torch.bfloat16)
    z = torch.randn(4, 32).to(torch.bfloat16).requires_grad_()
    loss = online_divergence(t, z, "fkl")
    loss.sum().backward()
    assert loss.dtype == torch.float32 and z.grad is not None and z.grad.dtype == torch.bfloat16
