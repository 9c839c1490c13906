"""Analytic α (one teacher-forced pass) against the sampler's empirical α on the tiny models."""

from __future__ import annotations

import pytest
import torch

from evaluate import analytic
from evaluate.analytic import analytic_alpha, batched_betas, teacher_forced_betas
from evaluate.metrics import alpha_with_se
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder


def verified_positions(gen: Generation) -> list[int]:
    """Response positions whose β the sampler recorded (bonus positions have no draft token, so none)."""
    positions, offset = [], 0
    for step in gen.steps:
        positions += range(offset, offset + len(step.betas))
        offset += step.accepted + 1
    return positions


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_sampler_beta_equals_teacher_forced_beta_on_the_same_tokens(tiny_pair, tiny_prompts, temperature):
    target, draft, tokenizer = tiny_pair
    spec = SpeculativeDecoder(target, draft, k=3, eos_token_ids=[tokenizer.eos_token_id], max_len=512)
    for i, prompt in enumerate(tiny_prompts[:4]):
        gen = spec.generate(prompt, 24, temperature, torch.Generator().manual_seed(i))
        forced = teacher_forced_betas(target, draft, prompt, gen.tokens, temperature)
        torch.testing.assert_close(
            forced[verified_positions(gen)], torch.tensor(gen.betas), atol=1e-4, rtol=0
        )


def test_analytic_alpha_matches_empirical_alpha_on_fresh_samples(tiny_pair, tiny_prompts):
    """Independent target samples (target alone) vs the sampler's own run: same α up to sampling noise."""
    target, draft, tokenizer = tiny_pair
    eos = [tokenizer.eos_token_id]
    prompts, t, n_tokens = tiny_prompts[:16], 1.0, 32
    alone = AutoregressiveDecoder(target, eos, max_len=512)
    samples = [
        (p, alone.generate(p, n_tokens, t, torch.Generator().manual_seed(100 + i)).tokens)
        for i, p in enumerate(prompts)
    ]
    spec = SpeculativeDecoder(target, draft, k=3, eos_token_ids=eos, max_len=512)
    gens = [spec.generate(p, n_tokens, t, torch.Generator().manual_seed(i)) for i, p in enumerate(prompts)]
    empirical, se_e, positions = alpha_with_se([g.betas for g in gens])
    analytic = analytic_alpha(target, draft, samples, t)
    _, se_a, _ = alpha_with_se([teacher_forced_betas(target, draft, p, r, t).tolist() for p, r in samples])
    assert positions > 200 and analytic.positions > 400
    # Two independent estimates from 16 prompts each (s.e. ≈ 0.025 apiece on this tiny pair): agree within
    # three joint standard errors.
    tolerance = 3 * (se_e**2 + se_a**2) ** 0.5
    assert abs(analytic.alpha - empirical) < tolerance, (analytic.alpha, empirical, tolerance)


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_batched_betas_equal_one_sample_at_a_time(tiny_pair, tiny_prompts, monkeypatch, temperature):
    """Right-padded batches (prompts and responses of different lengths, an empty response among them)
    give every sample the β it gets alone, in order, in fewer forwards than samples."""
    target, draft, _ = tiny_pair
    gen = torch.Generator().manual_seed(0)
    samples = [
        (p, torch.randint(0, 1000, (n,), generator=gen).tolist())
        for p, n in zip(tiny_prompts[:7], (5, 17, 0, 30, 1, 12, 24), strict=True)
    ]
    forwards = []
    hook = target.get_output_embeddings().register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        together = batched_betas(target, draft, samples, temperature)
    finally:
        hook.remove()
    monkeypatch.setattr(analytic, "LOGIT_BUDGET", 1)  # every sample its own forward
    alone = batched_betas(target, draft, samples, temperature)
    assert len(forwards) < len(samples) and len(together) == len(alone) == len(samples)
    for (_, response), a, b in zip(samples, together, alone, strict=True):
        assert a.shape == (len(response),)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
