"""Candidate mixtures over a pool's temperature grid, and the pool recipe that composes each one.

A candidate is a weight per pool temperature (summing to 1). The fixed candidates are always scored, so
the search's answer is never worse, on its own prompts, than what a user would write by hand:
every single temperature (T = 0 with the SeqKD config is greedy SeqKD, the common practice), the uniform
mixture, and the
shipped `recipes/mix_high_temp.yaml` (each of its components' share spread evenly over the pool
temperatures it selects; skipped when a component selects none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders.mixture_spec import MixtureSpec
from builders.requests import temperature_tag
from core.errors import RecipeError
from core.yamlconfig import read_mapping

MIX_HIGH_TEMP = Path(__file__).resolve().parents[2] / "recipes" / "mix_high_temp.yaml"


@dataclass(frozen=True)
class Candidate:
    label: str
    weights: dict[float, float]  # pool temperature -> share, sums to 1, zero shares dropped
    origin: str  # "fixed" (always scored) or "search" (proposed by the optimizer)


def normalised(raw: dict[float, float]) -> dict[float, float]:
    """Shares rounded to 3 decimals (readable recipes); all-zero proposals mean uniform."""
    total = sum(raw.values())
    if total <= 0:
        raw, total = dict.fromkeys(raw, 1.0), float(len(raw))
    shares = {t: round(w / total, 3) for t, w in sorted(raw.items())}
    return {t: w for t, w in shares.items() if w > 0}


# How a candidate's draft is trained (distill's loss.mode), as the labels name it.
KD_NAMES = {"seqkd": "SeqKD", "online": "online KD", "topk": "top-k KD"}


def fixed_candidates(grid: list[float], kd: str = "seqkd") -> tuple[list[Candidate], list[str]]:
    """The candidates every search scores, and notes on the hand recipes it could not compose. `kd`: the
    distill config's loss mode (names the T = 0 candidate: greedy SeqKD, greedy online KD, ...)."""
    greedy = f"greedy {KD_NAMES[kd]} (T=0)"
    out = [Candidate(greedy if t == 0 else f"single T={t:g}", {t: 1.0}, "fixed") for t in grid]
    out.append(Candidate("uniform", normalised(dict.fromkeys(grid, 1.0)), "fixed"))
    notes = []
    mix, why = hand_recipe_weights(MIX_HIGH_TEMP, grid)
    if mix:
        out.append(Candidate("mix_high_temp", mix, "fixed"))
    else:
        notes.append(f"mix_high_temp not composable from this pool: {why}")
    return out, notes


def hand_recipe_weights(recipe: Path, grid: list[float]) -> tuple[dict[float, float], str]:
    """A recipe's mixture as per-temperature shares of this grid (each component's share split evenly)."""
    spec = MixtureSpec.model_validate(read_mapping(recipe, "recipe", RecipeError)["mixture"])
    weights = dict.fromkeys(grid, 0.0)
    for i, comp in enumerate(spec.components):
        chosen = [t for t in grid if comp.selects(t)]
        if not chosen or comp.weight is None:
            return {}, f"component {i} ({comp.temperatures}) selects no pool temperature or has no weight"
        for t in chosen:
            weights[t] += comp.weight / len(chosen)
    return normalised(weights), ""


def mixture_section(c: Candidate, total_rows: int) -> dict[str, Any]:
    return {
        "total_rows": total_rows,
        "components": [{"temperatures": [t], "weight": w} for t, w in c.weights.items()],
        "balance_sources": True,
        "dedup": True,
    }


def pool_recipe(c: Candidate, name: str, pool: str, total_rows: int, seed: int) -> dict[str, Any]:
    """The recipe `python -m builders run` composes this candidate from (no sampling)."""
    shares = ", ".join(f"{temperature_tag(t)} {w:.0%}" for t, w in c.weights.items())
    return {
        "name": name,
        "description": f"{c.label}: {shares} (found by python -m evaluate search)",
        "seed": seed,
        "pool": pool,
        "mixture": mixture_section(c, total_rows),
    }
