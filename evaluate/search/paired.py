"""Training replicates and paired comparisons of search candidates: bootstrap over prompts and seeds.

A candidate scored on one half of the eval prompts is a list of replicates (one trained draft per seed),
each holding per serving T the per-prompt terms of its predicted speedup at its chosen k
(`per_prompt`, evaluate.search.score.per_prompt_sums). One bootstrap resample draws seeds and prompts with
replacement, seeds first, from numpy's `default_rng(seed)`:

    seed_idx = rng.integers(0, n_seeds, (n_boot, n_seeds))
    prompt_idx = rng.integers(0, n_prompts, (n_boot, n_prompts))   # into the sorted prompt ids

and recomputes every arm on those same seeds and prompts: per replicate, speedup at T =
(1 + Σ accepted / Σ windows) / step cost (the chained ratio estimator at the replicate's k), objective =
Σ_T share · speedup, the arm's value = mean over the drawn replicates. A paired difference is
A / B − 1 on each resample, replicate i of A beside replicate i of B (the same seed) on the same prompts,
so prompt difficulty and seed effects common to both arms cancel. Pure numbers, no models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_BOOT = 2000
Half = list[dict[str, Any]]  # one score dict ("search" or "confirm" of a result.json) per replicate


class Bootstrap:
    """One set of resamples (seeds x prompts) shared by every arm of one half, so arms are paired."""

    def __init__(
        self, shares: dict[float, float], prompts: list[str], n_seeds: int, seed: int, n_boot: int = N_BOOT
    ):
        self.temps = sorted(shares)
        self.shares = np.array([shares[t] for t in self.temps])
        self.col = {p: i for i, p in enumerate(prompts)}
        rng = np.random.default_rng(seed)
        self.seed_idx = rng.integers(0, n_seeds, (n_boot, n_seeds))
        self.prompt_idx = rng.integers(0, len(prompts), (n_boot, len(prompts)))

    def _arrays(self, reps: Half) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """accepted and windows [seeds, T, prompts]; step cost [seeds, T]."""
        shape = (len(reps), len(self.temps), len(self.col))
        acc, win, step = np.zeros(shape), np.zeros(shape), np.ones(shape[:2])
        for s, rep in enumerate(reps):
            by_t = {float(x["temperature"]): x["per_prompt"] for x in rep["per_temperature"]}
            for j, t in enumerate(self.temps):
                pp = by_t[t]
                cols = [self.col[p] for p in pp["prompts"]]
                acc[s, j, cols], win[s, j, cols], step[s, j] = pp["accepted"], pp["windows"], pp["step_cost"]
        return acc, win, step

    def _objective(self, acc: np.ndarray, win: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Per seed (x resample): Σ_T share · (1 + Σ accepted / Σ windows) / step; prompts summed already."""
        ratio = np.divide(acc, win, out=np.zeros_like(acc), where=win > 0)
        speed = (1.0 + ratio) / step.reshape(step.shape + (1,) * (acc.ndim - 2))
        return np.einsum("st...,t->s...", speed, self.shares)

    def point(self, reps: Half) -> float:
        """The arm's value on all prompts and all its replicates."""
        acc, win, step = self._arrays(reps)
        return float(self._objective(acc.sum(-1), win.sum(-1), step).mean())

    def draws(self, reps: Half) -> np.ndarray:
        """The arm's value on every resample [n_boot]."""
        if len(reps) != self.seed_idx.shape[1]:
            raise ValueError(f"{len(reps)} replicates, the bootstrap pairs {self.seed_idx.shape[1]}")
        acc, win, step = self._arrays(reps)
        per_seed = self._objective(acc[..., self.prompt_idx].sum(-1), win[..., self.prompt_idx].sum(-1), step)
        rows = np.arange(self.seed_idx.shape[0])[:, None]
        return per_seed[self.seed_idx, rows].mean(1)  # per_seed: [seeds, n_boot]

    def interval(self, reps: Half) -> tuple[float, float]:
        low, high = np.quantile(self.draws(reps), [0.025, 0.975])
        return float(low), float(high)

    def paired(self, a: Half, b: Half) -> dict[str, float]:
        """A / B − 1 in predicted speedup, with its 95% paired bootstrap interval."""
        low, high = np.quantile(self.draws(a) / self.draws(b) - 1.0, [0.025, 0.975])
        return {"relative": self.point(a) / self.point(b) - 1.0, "low": float(low), "high": float(high)}


def combine(boot: Bootstrap, reps: Half) -> dict[str, Any]:
    """A candidate's score on one half from its replicates: objective = mean over seeds, interval from
    the bootstrap over prompts and seeds, per temperature the seeds' mean α and speedup and each best k."""
    per_t = []
    for t in boot.temps:
        ps = [next(x for x in r["per_temperature"] if float(x["temperature"]) == t) for r in reps]
        speedup = float(np.mean([p["predicted_speedup"] for p in ps]))
        per_t.append(
            {
                "temperature": t,
                "alpha": float(np.mean([p["alpha"] for p in ps])),
                "best_k": [p["best_k"] for p in ps],
                "predicted_speedup": speedup,
                "speculate": speedup > 1.0,
                "samples": ps[0]["samples"],
            }
        )
    low, high = boot.interval(reps)
    return {
        "objective": float(np.mean([r["objective"] for r in reps])),
        "low": low,
        "high": high,
        "per_temperature": per_t,
    }


def baselines(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The arms every candidate is compared with: the greedy candidate (single T = 0, when the pool has
    T = 0) and the best single temperature by the search objective."""
    singles = [r for r in results if r["origin"] == "fixed" and len(r["weights"]) == 1]
    out = {}
    greedy = next((r for r in singles if r["weights"] == {"0": 1.0}), None)
    if greedy is not None:
        out["greedy"] = greedy
    out["best_single"] = max(singles, key=lambda r: r["search"]["objective"])
    return out


def compare(
    results: list[dict[str, Any]], bases: dict[str, dict[str, Any]], boots: dict[str, Bootstrap]
) -> None:
    """Set each result's `paired[half][baseline]` = {baseline label, relative, low, high} for every half
    both arms were scored on (search: all; confirm: the finalists)."""
    for r in results:
        r["paired"] = {}
        for half, boot in boots.items():
            if half not in r:
                continue
            mine = [rep[half] for rep in r["replicates"]]
            r["paired"][half] = {
                name: {"baseline": b["label"], **boot.paired(mine, [rep[half] for rep in b["replicates"]])}
                for name, b in bases.items()
                if half in b
            }
