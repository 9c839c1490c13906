"""Chained acceptance: tokens per target call predicted from per-position β along teacher samples.

The i.i.d. formula (evaluate.costmodel) treats every drafted token as accepted with the same α. Real
acceptance is correlated along a sequence (easy spans, hard spans), so a draft whose α is 0.5 on
average can accept long runs in some places and nothing in others. Given β_s, β_{s+1}, ... at the
positions of a held-out teacher sample at the decoding temperature, a sampler that starts drafting at
position s accepts its j-th token with probability Π_{i<j} β_{s+i}, so

    E[accepted | k] = mean over start positions s of Σ_{j=1..k} Π_{i=0..j-1} β_{s+i}
    tokens per target call = 1 + E[accepted | k]        (the bonus / corrected token)

Only start positions with a full window of k positions count, so every k is averaged over windows of
its own length. The interval is a bootstrap over samples (windows of one sample are correlated).
Pure math on tensors: no models here; `evaluate.analytic.teacher_forced_betas` gives the β.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class ChainedEstimate:
    k: int
    accepted: float  # E[accepted | k]
    tokens_per_call: float  # 1 + accepted
    low: float  # 95% bootstrap interval of tokens_per_call
    high: float
    windows: int  # start positions averaged


def window_sums(betas: torch.Tensor, k_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per k = 1..k_max: the sum over full windows of Σ_j Π β, and the number of such windows."""
    b = betas.double().flatten()
    r = b.numel()
    sums, counts = torch.zeros(k_max, dtype=torch.float64), torch.zeros(k_max, dtype=torch.float64)
    prod = torch.ones(r, dtype=torch.float64)  # prod[s] = Π_{i<j} β_{s+i}, for starts with room
    accepted = torch.zeros(r, dtype=torch.float64)  # Σ_{j'≤j} of those products, per start s
    for j in range(1, min(k_max, r) + 1):
        starts = r - j + 1  # starts s with s + j - 1 < r
        prod = prod[:starts] * b[j - 1 : j - 1 + starts]
        accepted = accepted[:starts] + prod
        sums[j - 1], counts[j - 1] = accepted.sum(), starts
    return sums, counts


def step_weighted_sums(betas: torch.Tensor, k_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Like `window_sums`, but each full-window start s weighted by ρ(s), the probability that a sampler
    which starts drafting at position 0 begins a step at s (steps advance by accepted + 1).

    The sampler's tokens per call is a mean over its *steps*, and steps are denser where acceptance is low
    (each advances 1 token) than where it is high: with acceptance correlated along the sequence the
    uniform mean over starts overestimates what the sampler measures. Same β, same windows, step weights.
    """
    b = betas.double().flatten().tolist()
    r = len(b)
    sums, counts = torch.zeros(k_max, dtype=torch.float64), torch.zeros(k_max, dtype=torch.float64)
    for k in range(1, min(k_max, r) + 1):
        rho = [0.0] * (r + k + 1)
        rho[0] = 1.0
        num = den = 0.0
        for s in range(r - k + 1):  # starts with a full window
            if rho[s] == 0.0:
                continue
            at_least = [1.0]  # P(accepted ≥ j | start s), j = 0..k
            for j in range(k):
                at_least.append(at_least[-1] * b[s + j])
            num += rho[s] * sum(at_least[1:])
            den += rho[s]
            for a in range(k + 1):  # exactly a accepted -> next step starts at s + a + 1
                p_a = at_least[a] - (at_least[a + 1] if a < k else 0.0)
                rho[s + a + 1] += rho[s] * p_a
        sums[k - 1], counts[k - 1] = num, den
    return sums, counts


def chained_acceptance(
    betas: Sequence[torch.Tensor],
    k_max: int,
    n_boot: int = 1000,
    seed: int = 0,
    weighting: Literal["starts", "steps"] = "starts",
) -> list[ChainedEstimate]:
    """E[accepted | k] and tokens per target call for k = 1..k_max, with bootstrap intervals over samples.

    `weighting`: "starts" averages every full-window start position alike (the formula above); "steps"
    weights each start by how often the sampler begins a step there (`step_weighted_sums`), which is what
    the sampler's measured mean over steps estimates. `windows` is then the expected number of steps."""
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    sums_fn = window_sums if weighting == "starts" else step_weighted_sums
    per_sample = [sums_fn(b, k_max) for b in betas if b.numel()]
    if not per_sample:
        nan = float("nan")
        return [ChainedEstimate(k, nan, nan, nan, nan, 0) for k in range(1, k_max + 1)]
    sums = torch.stack([s for s, _ in per_sample])  # [samples, k_max]
    counts = torch.stack([c for _, c in per_sample])
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(per_sample), (n_boot, len(per_sample)), generator=gen)
    boot = sums[idx].sum(1) / counts[idx].sum(1).clamp(min=1)  # [n_boot, k_max] ratio estimator
    out = []
    for k in range(1, k_max + 1):
        n = float(counts[:, k - 1].sum())
        mean = float(sums[:, k - 1].sum()) / n if n else float("nan")
        col = boot[:, k - 1]
        low, high = (float(torch.quantile(col, q)) for q in (0.025, 0.975)) if n else (mean, mean)
        out.append(ChainedEstimate(k, mean, 1.0 + mean, 1.0 + low, 1.0 + high, int(n)))
    return out


def chained_speedup(estimate: ChainedEstimate, c: float, verify_cost: float = 1.0) -> float:
    """Predicted wall-time speedup at this k: tokens per call over the cost of k draft steps + one verify."""
    return estimate.tokens_per_call / (c * estimate.k + verify_cost)


def best_k(
    estimates: Sequence[ChainedEstimate], c: float, verify_costs: Mapping[int, float] | None = None
) -> tuple[int, float]:
    """The k maximizing predicted speedup, and that speedup. k = 0 (target alone, 1.0x) wins when no k
    beats it: speculating then only costs time. `verify_costs[k]`: measured cost of verifying k drafts
    relative to one target step (default 1, the paper's model); given, a k it does not price is skipped."""
    best = (0, 1.0)
    for est in estimates:
        if verify_costs is not None and est.k not in verify_costs:
            continue
        speedup = chained_speedup(est, c, (verify_costs or {}).get(est.k, 1.0))
        if speedup > best[1]:
            best = (est.k, speedup)
    return best
