"""Divergences against closed forms, and the top-k + rest bucket construction."""

from __future__ import annotations

import math

import pytest
import torch

from distill.losses import divergence, teacher_topk_with_rest, topk_with_rest


def logs(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).log()


def random_pair(n: int = 6, v: int = 11, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, v, generator=g, dtype=torch.float64) * 2).log_softmax(-1), (
        torch.randn(n, v, generator=g, dtype=torch.float64) * 2
    ).log_softmax(-1)


def test_kl_matches_bernoulli_closed_form():
    a, b = 0.3, 0.6
    p, q = logs([a, 1 - a]), logs([b, 1 - b])
    expected = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    assert divergence(p, q, "fkl").item() == pytest.approx(expected)
    reverse = b * math.log(b / a) + (1 - b) * math.log((1 - b) / (1 - a))
    assert divergence(p, q, "rkl").item() == pytest.approx(reverse)


def test_tvd_is_one_minus_acceptance():
    p, q = random_pair()
    acceptance = torch.minimum(p.exp(), q.exp()).sum(-1)
    torch.testing.assert_close(divergence(p, q, "tvd"), 1 - acceptance)


def test_jsd_closed_form_against_the_mixture():
    a, b, beta = 0.2, 0.9, 0.3
    p, q = logs([a, 1 - a]), logs([b, 1 - b])
    m = [beta * a + (1 - beta) * b, beta * (1 - a) + (1 - beta) * (1 - b)]
    kl_pm = a * math.log(a / m[0]) + (1 - a) * math.log((1 - a) / m[1])
    kl_qm = b * math.log(b / m[0]) + (1 - b) * math.log((1 - b) / m[1])
    got = divergence(p, q, "jsd", beta).item()
    assert got == pytest.approx(beta * kl_pm + (1 - beta) * kl_qm)
    # not the weighted sum of the two KLs between p and q
    assert got != pytest.approx(
        beta * divergence(p, q, "fkl").item() + (1 - beta) * divergence(p, q, "rkl").item()
    )


def test_jsd_symmetric_bounded_and_zero_iff_equal():
    p, q = random_pair()
    j = divergence(p, q, "jsd", 0.5)
    torch.testing.assert_close(j, divergence(q, p, "jsd", 0.5))
    assert bool((j > 0).all()) and bool((j <= math.log(2)).all())
    assert divergence(p, p, "jsd", 0.5).abs().max().item() < 1e-12
    disjoint_p, disjoint_q = logs([0.5, 0.5, 0.0, 0.0]), logs([0.0, 0.0, 0.25, 0.75])
    assert divergence(disjoint_p, disjoint_q, "jsd", 0.5).item() == pytest.approx(math.log(2))


def test_every_divergence_zero_on_equal_and_positive_otherwise():
    p, q = random_pair()
    for kind in ("fkl", "rkl", "tvd", "jsd"):
        assert divergence(p, p, kind).abs().max().item() < 1e-12, kind
        assert bool((divergence(p, q, kind) > 0).all()), kind


def test_zero_probabilities_give_finite_values_and_gradients():
    p = logs([0.7, 0.3, 0.0])
    logits = torch.tensor([[1.0, 0.5, -2.0]], dtype=torch.float64, requires_grad=True)
    for kind in (
        "fkl",
        "tvd",
        "jsd",
    ):  # KL(q || p) is truly infinite here; stored targets are floored (below)
        value = divergence(p, logits.log_softmax(-1), kind)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all(), kind


def test_rest_bucket_holds_the_exact_tail_mass():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 50, generator=g, dtype=torch.float64)
    ids = logits.topk(4, dim=-1).indices
    buckets = topk_with_rest(logits, ids).exp()
    probs = logits.softmax(-1)
    torch.testing.assert_close(buckets[:, :4], probs.gather(-1, ids))
    torch.testing.assert_close(buckets[:, 4], 1 - probs.gather(-1, ids).sum(-1))
    torch.testing.assert_close(buckets.sum(-1), torch.ones(5, dtype=torch.float64))


def test_teacher_buckets_from_stored_topk():
    probs = torch.tensor([[0.5, 0.2, 0.1, 0.2]])  # full distribution; top-3 stored
    stored = probs[:, :3].log()
    buckets = teacher_topk_with_rest(stored).exp()
    torch.testing.assert_close(buckets, torch.tensor([[0.5, 0.2, 0.1, 0.2]]))
    # rounding that pushes the stored mass past 1 leaves an empty rest bucket, still a distribution
    over = teacher_topk_with_rest(torch.tensor([[0.7, 0.31]]).log()).exp()
    assert over[0, 2].item() < 1e-7 and over.sum().item() == pytest.approx(1.0)
    # ... and a token cut by top-p (stored -inf) or an empty rest keeps KL(q || p) finite
    cut = teacher_topk_with_rest(torch.tensor([[0.0, float("-inf")]]))
    draft = topk_with_rest(torch.zeros(1, 10), torch.tensor([[0, 1]]))
    assert torch.isfinite(divergence(cut, draft, "rkl")).all()


def test_bucketed_kl_never_exceeds_the_full_kl():
    # Merging outcomes can only lose information (data processing), so the topk objective is a lower
    # bound of the full-vocabulary one, and equal when the tail is a single token.
    p_logits, q_logits = (
        torch.randn(8, 30, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in (2, 3)
    )
    ids = p_logits.topk(5, dim=-1).indices
    full = divergence(p_logits.log_softmax(-1), q_logits.log_softmax(-1), "fkl")
    coarse = divergence(topk_with_rest(p_logits, ids), topk_with_rest(q_logits, ids), "fkl")
    assert bool((coarse <= full + 1e-12).all())
