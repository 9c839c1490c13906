"""Score a draft for the serving temperatures: chained acceptance on held-out teacher samples -> speedup.

The pool's validation prompts are split in two halves (alternating in a hashed order): `search` (every
candidate is scored there) and `confirm` (only the finalists: the search can overfit its own prompts).
At each serving temperature T the teacher samples at T of those prompts give β per position (one
teacher-forced pass of target and draft), hence E[accepted | k] and the predicted speedup for every
k = 1..k_max - the same prediction as `evaluate run` with `k: auto` (evaluate.chained, start positions
weighted as the sampler's steps fall; speedup = tokens per call / (c·k + verify cost of k)). The
objective is the traffic-weighted speedup at each T's best k. Each score keeps, per prompt, the accepted
sums and step weights at that k (`per_prompt`), from which evaluate.search.paired resamples prompts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from builders.requests import temperature_tag
from distill.data import read_columns
from evaluate.analytic import batched_betas
from evaluate.chained import ChainedEstimate, chained_acceptance, chained_speedup, step_weighted_sums
from registry.dataset import config_files

Sample = tuple[str, list[int], list[int]]  # prompt id, prompt token ids, teacher response token ids


@dataclass
class EvalSets:
    search: dict[float, list[Sample]]  # serving T -> teacher samples
    confirm: dict[float, list[Sample]]

    def prompt_ids(self, half: str) -> list[str]:
        """The sorted ids of the prompts one half scores (over all serving temperatures)."""
        samples = self.search if half == "search" else self.confirm
        return sorted({pid for per_t in samples.values() for pid, _, _ in per_t})


def _halves(prompt_ids: list[str]) -> dict[str, str]:
    """Prompt id -> 'search' | 'confirm': alternate in a hashed order, so the halves differ by at most one."""
    ranked = sorted(set(prompt_ids), key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return {p: ("search", "confirm")[i % 2] for i, p in enumerate(ranked)}


def nearest(grid: list[float], t: float) -> float:
    return min(grid, key=lambda g: abs(g - t))


def load_eval_sets(pool: Path, grid: list[float], serving: list[float], prompts_per_half: int) -> EvalSets:
    """Teacher samples at each serving T (nearest pool temperature when extrapolating), split by prompt."""
    sets = EvalSets({}, {})
    for t in serving:
        files = config_files(pool, temperature_tag(nearest(grid, t)), "validation")
        cols = read_columns(files, ["prompt_id", "prompt_token_ids", "response_token_ids"])
        rows = sorted(
            zip(cols["prompt_id"], cols["prompt_token_ids"], cols["response_token_ids"], strict=True)
        )
        halves = _halves([r[0] for r in rows])
        for half, target in (("search", sets.search), ("confirm", sets.confirm)):
            chosen: list[Sample] = []
            seen: set[str] = set()
            for pid, prompt, response in rows:
                if halves[pid] != half or not response:
                    continue
                if pid not in seen and len(seen) >= prompts_per_half:
                    continue
                seen.add(pid)
                chosen.append((pid, list(prompt), list(response)))
            target[t] = chosen
    return sets


@dataclass
class Cost:
    c: float  # draft step / target step
    verify: dict[int, float]  # k -> cost of verifying k drafts / one target step (1 when not measured)

    def step(self, k: int) -> float:
        return self.c * k + self.verify.get(k, 1.0)

    def speedup(self, est: ChainedEstimate) -> float:
        return chained_speedup(est, self.c, self.verify.get(est.k, 1.0))


@dataclass
class TemperatureScore:
    temperature: float
    alpha: float  # i.i.d. α: mean β
    curve: list[ChainedEstimate]
    best_k: int  # argmax over k >= 1 (ranking needs a signal even when no k beats the target alone)
    speedup: float  # predicted, at best_k; below 1 means: serve this T without speculation
    low: float  # interval of the speedup at best_k (from the tokens-per-call interval)
    high: float
    samples: int
    per_prompt: dict[str, Any]  # prompts, accepted, windows at best_k and its step_cost: paired comparisons

    def to_dict(self, cost: Cost) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "alpha": self.alpha,
            "best_k": self.best_k,
            "predicted_speedup": self.speedup,
            "speculate": self.speedup > 1.0,
            "low": self.low,
            "high": self.high,
            "samples": self.samples,
            "per_prompt": self.per_prompt,
            "curve": [
                {
                    "k": e.k,
                    "tokens_per_call": e.tokens_per_call,
                    "low": e.low,
                    "high": e.high,
                    "predicted_speedup": cost.speedup(e),
                }
                for e in self.curve
            ],
        }


def score_temperature(
    target, draft, samples: list[Sample], t: float, k_max: int, cost: Cost, seed: int
) -> TemperatureScore:
    betas = batched_betas(target, draft, [(p, r) for _, p, r in samples], t)
    flat = torch.cat(betas) if betas else torch.zeros(0)
    curve = chained_acceptance(betas, k_max, seed=seed, weighting="steps")
    best = max(curve, key=cost.speedup)
    step = cost.step(best.k)
    alpha = float(flat.double().mean()) if flat.numel() else float("nan")
    return TemperatureScore(
        t,
        alpha,
        curve,
        best.k,
        cost.speedup(best),
        best.low / step,
        best.high / step,
        len(samples),
        per_prompt_sums([pid for pid, _, _ in samples], betas, best.k, step),
    )


def per_prompt_sums(prompt_ids: list[str], betas: list[torch.Tensor], k: int, step: float) -> dict[str, Any]:
    """Per prompt (its samples summed): step-weighted accepted sum and step weight at k, the terms of the
    ratio estimator tokens per call = 1 + Σ accepted / Σ windows (evaluate.chained)."""
    acc: dict[str, float] = {}
    win: dict[str, float] = {}
    for pid, b in zip(prompt_ids, betas, strict=True):
        sums, counts = step_weighted_sums(b, k) if b.numel() else (torch.zeros(k), torch.zeros(k))
        acc[pid] = acc.get(pid, 0.0) + float(sums[k - 1])
        win[pid] = win.get(pid, 0.0) + float(counts[k - 1])
    prompts = sorted(acc)
    return {
        "prompts": prompts,
        "accepted": [acc[p] for p in prompts],
        "windows": [win[p] for p in prompts],
        "step_cost": step,
    }


def objective(scores: list[TemperatureScore], shares: dict[float, float]) -> tuple[float, float, float]:
    """Traffic-weighted predicted speedup and its (conservatively combined) interval."""
    value = sum(shares[s.temperature] * s.speedup for s in scores)
    low = sum(shares[s.temperature] * s.low for s in scores)
    high = sum(shares[s.temperature] * s.high for s in scores)
    return value, low, high
