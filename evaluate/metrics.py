"""Per-temperature metrics from sampler runs (pure Python: the GPU benchmark imports this too).

Timing convention: speedup compares the *decode phase* (after the prompt is cached) of the sampler with
the target alone on the same prompts, because that is what the cost model describes; the end-to-end
figure, prompt processing included, is reported beside it.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

from evaluate.costmodel import expected_tokens_per_call, predicted_speedup
from evaluate.specdec import Generation


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def alpha_with_se(per_prompt_betas: Sequence[Sequence[float]]) -> tuple[float, float, int]:
    """Pooled mean β; its standard error with prompts as clusters (a prompt's positions correlate); count."""
    flat = [b for bs in per_prompt_betas for b in bs]
    if not flat:
        return float("nan"), float("nan"), 0
    alpha = sum(flat) / len(flat)
    means = [sum(bs) / len(bs) for bs in per_prompt_betas if bs]
    se = statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else float("nan")
    return alpha, se, len(flat)


def full_step_tokens_per_call(gens: Sequence[Generation], k: int) -> tuple[float, float, int]:
    """Tokens per target call over the steps that drafted all k tokens: mean (accepted + 1), its standard
    error with generations as clusters (ratio estimator), and the number of such steps.

    This is the sampler's quantity that `evaluate.chained` predicts: its windows are full k-windows, while
    the overall tokens / target calls also counts the shortened last steps before max_new_tokens and
    tokens cut after EOS."""
    sums = [sum(s.accepted + 1 for s in g.steps if s.drafted == k) for g in gens]
    counts = [sum(1 for s in g.steps if s.drafted == k) for g in gens]
    n = sum(counts)
    if not n:
        return float("nan"), float("nan"), 0
    mean = sum(sums) / n
    clusters = [(s_, c) for s_, c in zip(sums, counts, strict=True) if c]
    g = len(clusters)
    if g < 2:
        return mean, float("nan"), n
    resid = sum((s_ - mean * c) ** 2 for s_, c in clusters)
    return mean, math.sqrt(resid * g / (g - 1)) / n, n


def target_alone_summary(alone: Sequence[Generation]) -> dict[str, float]:
    tokens = sum(len(g.tokens) for g in alone)
    decode_s = sum(g.decode_s for g in alone)
    prefill_s = sum(g.prefill_s for g in alone)
    return {
        "tokens": tokens,
        "decode_s": decode_s,
        "prefill_s": prefill_s,
        "step_s": _ratio(decode_s, sum(g.target_calls for g in alone)),
        "s_per_token": _ratio(decode_s, tokens),
        "s_per_token_e2e": _ratio(decode_s + prefill_s, tokens),
        "tokens_per_s": _ratio(tokens, decode_s),
    }


def speedup_interval(
    spec: Sequence[Generation], alone: Sequence[Generation], resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% paired bootstrap interval of the measured speedup over prompts: each resample draws prompts with
    replacement and sums both decoders' decode seconds and tokens over the same draws (prompt i of `spec`
    and of `alone` ran the same prompt), the speedup's own ratio of sums. One slow prompt (a stall, a long
    continuation) widens it. Nearest-rank percentiles; the fixed seed makes a row's interval reproducible.
    NaN for fewer than two prompts."""
    if len(alone) != len(spec):
        raise ValueError(f"{len(spec)} speculative runs against {len(alone)} target-alone ones: not paired")
    cols = [(a.decode_s, len(a.tokens), s.decode_s, len(s.tokens)) for a, s in zip(alone, spec, strict=True)]
    if len(cols) < 2:
        return float("nan"), float("nan")
    rng, draws = random.Random(seed), []
    for _ in range(resamples):
        pick = [cols[rng.randrange(len(cols))] for _ in cols]
        a_s, a_n, s_s, s_n = (sum(col) for col in zip(*pick, strict=True))
        if a_n and s_s and s_n:  # a draw of empty or instant runs has no speedup: left out
            draws.append(_ratio(a_s / a_n, s_s / s_n))
    draws.sort()
    if not draws:
        return float("nan"), float("nan")
    return draws[int(0.025 * (len(draws) - 1))], draws[math.ceil(0.975 * (len(draws) - 1))]


def speculative_summary(
    spec: Sequence[Generation], alone_gens: Sequence[Generation], k: int
) -> dict[str, Any]:
    """Empirical α, acceptance, block efficiency, cost ratio c, speedup (with its 95% interval over prompts)
    and the cost-model prediction; `alone_gens`: the target alone on the same prompts, in the same order."""
    alone = target_alone_summary(alone_gens)
    speedup_low, speedup_high = speedup_interval(spec, alone_gens)
    tokens = sum(len(g.tokens) for g in spec)
    decode_s = sum(g.decode_s for g in spec)
    prefill_s = sum(g.prefill_s for g in spec)
    target_calls = sum(g.target_calls for g in spec)
    draft_calls = sum(g.draft_calls for g in spec)
    alpha, alpha_se, positions = alpha_with_se([g.betas for g in spec])
    draft_step_s = _ratio(sum(g.draft_s for g in spec), draft_calls)
    verify_step_s = _ratio(sum(g.target_s for g in spec), target_calls)
    c = _ratio(draft_step_s, alone["step_s"])
    verify_cost = _ratio(verify_step_s, alone["step_s"])
    s_per_token = _ratio(decode_s, tokens)
    speedup = _ratio(alone["s_per_token"], s_per_token)
    predicted = predicted_speedup(alpha, k, c) if not math.isnan(alpha) else float("nan")
    # Steps by number of accepted drafts (full-k steps only): the shape behind the block efficiency.
    full = [s.accepted for g in spec for s in g.steps if s.drafted == k]
    histogram = [full.count(n) for n in range(k + 1)]
    return {
        "tokens": tokens,
        "accepted_per_step_histogram": histogram,
        "alpha": alpha,
        "alpha_se": alpha_se,
        "alpha_positions": positions,
        "acceptance_rate": _ratio(sum(g.accepted for g in spec), sum(g.drafted for g in spec)),
        "block_efficiency": _ratio(tokens, target_calls),
        "predicted_block_efficiency": expected_tokens_per_call(alpha, k)
        if not math.isnan(alpha)
        else float("nan"),
        "target_calls": target_calls,
        "draft_calls": draft_calls,
        "draft_step_s": draft_step_s,
        "verify_step_s": verify_step_s,
        "target_step_s": alone["step_s"],
        "c": c,
        "verify_cost": verify_cost,
        "s_per_token": s_per_token,
        "target_s_per_token": alone["s_per_token"],
        "tokens_per_s": _ratio(tokens, decode_s),
        "speedup": speedup,
        "speedup_low": speedup_low,
        "speedup_high": speedup_high,
        "speedup_e2e": _ratio(alone["s_per_token_e2e"], _ratio(decode_s + prefill_s, tokens)),
        "predicted_speedup": predicted,
        "empirical_over_predicted": _ratio(speedup, predicted),
        # Same model with the measured cost of a (k+1)-token verification instead of 1: on compute-bound
        # CPUs this is the term the paper's model leaves out.
        "predicted_speedup_with_verify_cost": (
            predicted_speedup(alpha, k, c, verify_cost) if not math.isnan(alpha) else float("nan")
        ),
    }
