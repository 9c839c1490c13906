"""Chained acceptance from teacher samples predicts the sampler's measured tokens per target call, k = 1..4.

The draft is a noised copy of the tiny target (α ≈ 0.75 at T = 1), so acceptance is neither ~0 nor ~1 and
tokens per call differ clearly between adjacent k. Two independent estimates are compared: the chained
prediction from held-out target samples (bootstrap interval over samples) and the sampler's own mean of
(accepted + 1) over full-k steps (standard error with prompts as clusters). The test fails when they differ
by more than three joint standard errors, and it checks that this tolerance is tight enough to tell k from
k + 1 apart (otherwise passing would say nothing).
"""

from __future__ import annotations

import pytest
import torch

from evaluate.analytic import teacher_forced_betas
from evaluate.chained import chained_acceptance
from evaluate.drafts import noised_draft
from evaluate.metrics import full_step_tokens_per_call
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder

T, N_PROMPTS, N_TOKENS, K_MAX = 1.0, 12, 48, 4


@pytest.fixture(scope="module")
def noised(tiny_pair):
    return noised_draft(tiny_pair[0], 0.5)


def _se(low: float, high: float) -> float:
    return (high - low) / (2 * 1.96)


def test_chained_prediction_matches_the_samplers_tokens_per_call(tiny_pair, tiny_prompts, noised):
    target, _, tokenizer = tiny_pair
    eos = [tokenizer.eos_token_id]
    prompts = tiny_prompts[:N_PROMPTS]
    # 1. Held-out teacher samples at T (seeds disjoint from the sampler's) -> β per position -> chained.
    alone = AutoregressiveDecoder(target, eos, max_len=512)
    samples = [
        (p, alone.generate(p, N_TOKENS, T, torch.Generator().manual_seed(1000 + i)).tokens)
        for i, p in enumerate(prompts)
    ]
    betas = [teacher_forced_betas(target, noised, p, r, T) for p, r in samples]
    chained = chained_acceptance(betas, K_MAX, n_boot=500)
    stepwise = chained_acceptance(betas, K_MAX, n_boot=500, weighting="steps")
    alpha = float(torch.cat(betas).mean())
    assert 0.5 < alpha < 0.9, alpha  # mid-range acceptance: the comparison has something to resolve
    # 2. The sampler at every k (one decoder, per-call k), its full-k steps only.
    spec = SpeculativeDecoder(target, noised, K_MAX, eos, max_len=512)
    measured = []
    for k in range(1, K_MAX + 1):
        gens = [
            spec.generate(p, N_TOKENS, T, torch.Generator().manual_seed(i), k=k)
            for i, p in enumerate(prompts)
        ]
        measured.append(full_step_tokens_per_call(gens, k))
    # 3. Agreement within three joint standard errors at every k ...
    for est, st, (mean, se, steps) in zip(chained, stepwise, measured, strict=True):
        assert steps > 100
        for pred in (est, st):  # uniform over start positions, and weighted like the sampler's steps
            tolerance = 3 * (se**2 + _se(pred.low, pred.high) ** 2) ** 0.5
            assert abs(mean - pred.tokens_per_call) < tolerance, (pred, mean, se)
    # ... and that tolerance separates k from k + 1: a prediction for the wrong k would fail.
    for k in range(1, K_MAX):
        mean, se, _ = measured[k - 1]
        wrong = chained[k]
        assert abs(mean - wrong.tokens_per_call) > 3 * (se**2 + _se(wrong.low, wrong.high) ** 2) ** 0.5


def test_per_call_k_is_bounded_by_the_decoders_k(tiny_pair, tiny_prompts):
    target, draft, tokenizer = tiny_pair
    spec = SpeculativeDecoder(target, draft, 2, [tokenizer.eos_token_id], max_len=512)
    gen = spec.generate(tiny_prompts[0], 12, 1.0, torch.Generator().manual_seed(0), k=1)
    assert {s.drafted for s in gen.steps} <= {0, 1}
    with pytest.raises(ValueError, match="k must be in 1..2"):
        spec.generate(tiny_prompts[0], 12, 1.0, k=3)
