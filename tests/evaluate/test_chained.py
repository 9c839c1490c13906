from __future__ import annotations

import pytest
import torch

from evaluate.chained import best_k, chained_acceptance, chained_speedup, window_sums
from evaluate.costmodel import expected_tokens_per_call


def test_constant_beta_reduces_to_the_iid_formula():
    betas = [torch.full((200,), 0.6) for _ in range(5)]
    for est in chained_acceptance(betas, 6, n_boot=50):
        assert est.tokens_per_call == pytest.approx(expected_tokens_per_call(0.6, est.k))
        assert est.low == pytest.approx(est.tokens_per_call)
        assert est.high == pytest.approx(est.tokens_per_call)


def test_window_sums_by_hand():
    sums, counts = window_sums(torch.tensor([1.0, 0.5, 0.0]), 3)
    # k=1: starts 0,1,2 -> 1 + 0.5 + 0; k=2: starts 0,1 -> (1 + 0.5) + (0.5 + 0); k=3: start 0 -> 1 + .5 + 0
    assert sums.tolist() == [1.5, 2.0, 1.5] and counts.tolist() == [3, 2, 1]


def test_correlated_runs_accept_more_than_iid_of_the_same_mean():
    # Half the positions certain, half hopeless, in long runs: alpha 0.5, but runs of 1s accept all k.
    runs = torch.cat([torch.ones(50), torch.zeros(50)])
    est = chained_acceptance([runs] * 4, 4, n_boot=50)[3]
    assert est.tokens_per_call > expected_tokens_per_call(0.5, 4) + 0.5


def test_interval_covers_mean_and_widens_with_spread():
    gen = torch.Generator().manual_seed(0)
    betas = [torch.rand(40, generator=gen) * (i % 2) for i in range(20)]  # every other sample hopeless
    est = chained_acceptance(betas, 2, n_boot=500)[1]
    assert est.low < est.tokens_per_call < est.high


def test_best_k_falls_back_to_target_alone_when_drafting_never_pays():
    low = chained_acceptance([torch.full((50,), 0.1)], 4, n_boot=10)
    assert best_k(low, c=0.5) == (0, 1.0)
    high = chained_acceptance([torch.full((50,), 0.9)], 4, n_boot=10)
    k, speedup = best_k(high, c=0.05)
    assert k == 4 and speedup == pytest.approx(chained_speedup(high[3], 0.05))


def test_short_and_empty_samples():
    est = chained_acceptance([torch.tensor([0.5]), torch.zeros(0)], 3, n_boot=10)
    assert est[0].windows == 1 and est[1].windows == 0
    with pytest.raises(ValueError):
        chained_acceptance([], 0)


def _simulate_steps(betas: list[float], k: int, runs: int, gen: torch.Generator) -> float:
    """Mean (accepted + 1) over full-k steps of a sampler walking `betas` from position 0 (Monte Carlo)."""
    total = steps = 0
    u = torch.rand(runs, len(betas) * 2, generator=gen).tolist()
    for row in u:
        s, draws = 0, iter(row)
        while s + k <= len(betas):
            acc = 0
            while acc < k and next(draws) < betas[s + acc]:
                acc += 1
            total, steps, s = total + acc + 1, steps + 1, s + acc + 1
    return total / steps


def test_step_weighting_matches_a_simulated_sampler_and_not_the_start_average():
    # Easy and hard spans (β 0.95 / 0.2 in runs of 12): steps crowd into the hard spans.
    gen = torch.Generator().manual_seed(0)
    path = [0.95 if (i // 12) % 2 == 0 else 0.2 for i in range(96)]
    for k in (1, 2, 4):
        steps = chained_acceptance([torch.tensor(path)], k, n_boot=10, weighting="steps")[k - 1]
        starts = chained_acceptance([torch.tensor(path)], k, n_boot=10)[k - 1]
        simulated = _simulate_steps(path, k, 3000, gen)
        assert steps.tokens_per_call == pytest.approx(simulated, abs=0.03)
        if k > 1:  # the uniform start average overestimates what the sampler's steps see
            assert starts.tokens_per_call > simulated + 0.1


def test_step_weighting_reduces_to_the_iid_formula_for_constant_beta():
    for est in chained_acceptance([torch.full((120,), 0.7)] * 3, 4, n_boot=10, weighting="steps"):
        assert est.tokens_per_call == pytest.approx(expected_tokens_per_call(0.7, est.k))
