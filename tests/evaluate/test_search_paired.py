"""Paired comparisons of search candidates on synthetic per-prompt numbers: the bootstrap over prompts and
seeds against a hand computation, and identical arms differing by exactly zero (no models, milliseconds).
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluate.search.paired import Bootstrap, combine

SHARES = {0.0: 0.25, 1.0: 0.75}
PROMPTS = ["p0", "p1", "p2"]


def replicate(accepted: dict[float, list[float]], windows: list[float], step: float) -> dict:
    """One trained draft's score on a half, as evaluate.search.score writes it (only what is read here)."""
    return {
        "objective": 0.0,
        "per_temperature": [
            {
                "temperature": t,
                "alpha": 0.5,
                "best_k": 2,
                "predicted_speedup": 1.0,
                "samples": len(PROMPTS),
                "per_prompt": {"prompts": PROMPTS, "accepted": acc, "windows": windows, "step_cost": step},
            }
            for t, acc in accepted.items()
        ],
    }


A = [  # two seeds
    replicate({0.0: [3.0, 1.0, 0.5], 1.0: [1.0, 0.2, 0.1]}, [2.0, 2.0, 1.0], 1.2),
    replicate({0.0: [2.5, 1.5, 0.0], 1.0: [0.8, 0.4, 0.3]}, [2.0, 2.0, 1.0], 1.3),
]
B = [
    replicate({0.0: [2.0, 1.0, 0.4], 1.0: [0.5, 0.5, 0.0]}, [2.0, 2.0, 1.0], 1.2),
    replicate({0.0: [1.0, 0.5, 0.5], 1.0: [0.6, 0.1, 0.2]}, [2.0, 2.0, 1.0], 1.2),
]


def by_hand(reps: list[dict], seeds: list[int], prompts: list[int]) -> float:
    """An arm's value on one resample, written out: mean over the drawn seeds of Σ_T share · speedup."""
    values = []
    for s in seeds:
        total = 0.0
        for per_t in reps[s]["per_temperature"]:
            pp = per_t["per_prompt"]
            acc = sum(pp["accepted"][p] for p in prompts)
            win = sum(pp["windows"][p] for p in prompts)
            total += SHARES[per_t["temperature"]] * (1 + acc / win) / pp["step_cost"]
        values.append(total)
    return sum(values) / len(values)


def test_paired_bootstrap_matches_a_hand_computation():
    boot = Bootstrap(SHARES, PROMPTS, n_seeds=2, seed=7, n_boot=5)
    got = boot.paired(A, B)

    rng = np.random.default_rng(7)  # the draws the module's docstring names: seeds first, then prompts
    seed_idx = rng.integers(0, 2, (5, 2))
    prompt_idx = rng.integers(0, 3, (5, 3))
    diffs = [
        by_hand(A, list(si), list(pi)) / by_hand(B, list(si), list(pi)) - 1
        for si, pi in zip(seed_idx, prompt_idx, strict=True)
    ]
    everything = ([0, 1], [0, 1, 2])
    assert got["relative"] == pytest.approx(by_hand(A, *everything) / by_hand(B, *everything) - 1)
    assert got["low"] == pytest.approx(float(np.quantile(diffs, 0.025)))
    assert got["high"] == pytest.approx(float(np.quantile(diffs, 0.975)))


def test_identical_arms_differ_by_exactly_zero():
    boot = Bootstrap(SHARES, PROMPTS, n_seeds=2, seed=0)
    assert boot.paired(A, [dict(r) for r in A]) == {"relative": 0.0, "low": 0.0, "high": 0.0}


def test_pairing_removes_what_both_arms_share():
    """B is A made 10% slower at every prompt and seed: unpaired intervals of the two overlap widely, the
    paired difference is -10% with (almost) no width."""
    slower = [
        {
            **r,
            "per_temperature": [
                {**t, "per_prompt": {**t["per_prompt"], "step_cost": t["per_prompt"]["step_cost"] * 1.1}}
                for t in r["per_temperature"]
            ],
        }
        for r in A
    ]
    boot = Bootstrap(SHARES, PROMPTS, n_seeds=2, seed=0)
    got = boot.paired(slower, A)
    assert got["relative"] == pytest.approx(1 / 1.1 - 1)
    assert got["high"] - got["low"] < 1e-12
    low_a, high_a = boot.interval(A)
    assert high_a - low_a > 0.1  # each arm alone is uncertain


def test_combine_is_the_mean_over_seeds():
    reps = [{**r, "objective": v} for r, v in zip(A, (1.5, 1.7), strict=True)]
    out = combine(Bootstrap(SHARES, PROMPTS, n_seeds=2, seed=0), reps)
    assert out["objective"] == pytest.approx(1.6)
    assert out["low"] <= out["high"]
    assert [p["best_k"] for p in out["per_temperature"]] == [[2, 2], [2, 2]]


def test_replicate_count_must_match_the_pairing():
    with pytest.raises(ValueError, match="pairs 3"):
        Bootstrap(SHARES, PROMPTS, n_seeds=3, seed=0).draws(A)
