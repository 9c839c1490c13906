"""The measured speedup's 95% interval over prompts (evaluate.metrics.speedup_interval)."""

from __future__ import annotations

import math
import random

import pytest

from evaluate.metrics import speculative_summary, speedup_interval
from evaluate.specdec import Generation


def gen(seconds: float, tokens: int) -> Generation:
    return Generation(tokens=[0] * tokens, prefill_s=0.0, decode_s=seconds, target_calls=tokens)


def runs(rng: random.Random, prompts: int) -> tuple[list[Generation], list[Generation]]:
    """Target alone at ~1 s per 100 tokens, speculative at ~0.8 s (true speedup 1.25); prompt lengths vary
    and a prompt's context makes both decoders slower or faster together (`shared`, what pairing cancels)."""
    alone, spec = [], []
    for _ in range(prompts):
        n, shared = rng.randint(64, 128), rng.gauss(1.0, 0.15)
        alone.append(gen(n * shared * rng.gauss(0.010, 0.0005), n))
        spec.append(gen(n * shared * rng.gauss(0.008, 0.0008), n))
    return alone, spec


def test_interval_holds_the_speedup_and_a_stalled_prompt_widens_it():
    alone, spec = runs(random.Random(1), 16)
    low, high = speedup_interval(spec, alone)
    row = speculative_summary(spec, alone, 2)
    assert (row["speedup_low"], row["speedup_high"]) == (low, high)  # the row carries this interval
    assert low < row["speedup"] < high and high - low < 0.2
    assert speedup_interval(spec, alone) == (low, high)  # fixed seed: the same interval every time

    stalled = spec[:-1] + [gen(spec[-1].decode_s + 1.5, len(spec[-1].tokens))]  # one prompt 1.5 s late
    s_low, s_high = speedup_interval(stalled, alone)
    assert s_high - s_low > 2 * (high - low)  # the stall shows as width, not only as a lower point
    assert speculative_summary(stalled, alone, 2)["speedup"] < low


def test_interval_covers_the_true_speedup_about_95_percent_of_the_time():
    """200 simulated runs of 16 prompts (fixed seed) whose true speedup is 1.25: the percentile bootstrap
    should cover it in ~95% of them (a little less with 16 prompts); drawing the two decoders' prompts
    apart ignores what they share and covers nearly always (too wide), far fewer would be too narrow."""
    rng = random.Random(7)
    covered = 0
    for _ in range(200):
        alone, spec = runs(rng, 16)
        low, high = speedup_interval(spec, alone, resamples=500, seed=rng.randrange(10**6))
        covered += low <= 1.25 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_unpaired_runs_are_refused_and_one_prompt_has_no_interval():
    alone, spec = runs(random.Random(3), 4)
    with pytest.raises(ValueError, match="not paired"):
        speedup_interval(spec, alone[:3])
    low, high = speedup_interval(spec[:1], alone[:1])
    assert math.isnan(low) and math.isnan(high)  # one prompt says nothing about the spread


def test_report_error_bars_are_never_negative_and_absent_without_an_interval():
    """A percentile interval can miss its own point by a rounding error (seen with two prompts); matplotlib
    refuses a negative yerr, which would stop the report after the GPU work. None/NaN: no bar."""
    from evaluate.report import error_bars

    below, above = error_bars([1.2, 1.0, 0.9], [(1.1, 1.2 - 1e-15), (None, None), (float("nan"), 1.1)])
    assert below == [pytest.approx(0.1), 0.0, 0.0] and above == [0.0, 0.0, 0.0]
