"""Training to convergence: the held-out learning curve, early stopping, and the still-improving verdict.

The curve is a list of held-out evaluations, `{step, loss, acceptance: {T: alpha}}`, one before
training (step 0), one every `run.eval_every` steps and one at the last step. Everything else is a
pure function of the curve, so a resumed run (whose checkpoint carries the curve) decides exactly as
an uninterrupted one would:

- an evaluation *improves* when its metric beats the best earlier one by more than `min_delta`
  (loss: lower, alpha: higher; alpha = one temperature's, or the mean over the data's temperatures);
- early stopping stops once the last `patience` evaluations brought no improvement;
- `still_improving` (card and console): the best evaluation is among the last `patience` ones when
  training ended on its step budget, i.e. the budget, not the stopping rule, ended it. Without
  early stopping the same test runs with held-out loss, patience 1 and min_delta 0: the last
  evaluation was the best so far. It needs intermediate evaluations (`run.eval_every`); without them
  the verdict is None (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# The still-improving test of a run without early stopping: did the last held-out loss beat every earlier one?
DEFAULT_RULE: dict[str, Any] = {"metric": "loss", "patience": 1, "min_delta": 0.0, "temperature": None}


@dataclass(frozen=True)
class Rule:
    metric: str  # "loss" | "alpha"
    patience: int
    min_delta: float
    temperature: float | None  # alpha at this decoding temperature; None = mean over the curve's

    @classmethod
    def of(cls, spec: Any) -> Rule:
        """From a `distill.config.EarlyStoppingSpec`, or DEFAULT_RULE when it is None."""
        fields = spec.model_dump() if spec is not None else DEFAULT_RULE
        return cls(fields["metric"], fields["patience"], fields["min_delta"], fields["temperature"])

    def value(self, entry: dict[str, Any], temperatures: list[float]) -> float:
        """The watched number of one evaluation, signed so that higher is better."""
        if self.metric == "loss":
            return -entry["loss"]
        acc = entry["acceptance"]
        if self.temperature is not None:
            return acc[str(self.temperature)]
        return sum(acc[str(t)] for t in temperatures) / len(temperatures)

    def best_index(self, curve: list[dict[str, Any]], temperatures: list[float]) -> int:
        """Index of the last evaluation that improved on all before it (the first one counts as one)."""
        best = 0
        for i in range(1, len(curve)):
            if self.value(curve[i], temperatures) > self.value(curve[best], temperatures) + self.min_delta:
                best = i
        return best

    def should_stop(self, curve: list[dict[str, Any]], temperatures: list[float]) -> bool:
        return len(curve) - 1 - self.best_index(curve, temperatures) >= self.patience


def still_improving(
    curve: list[dict[str, Any]], rule: Rule, temperatures: list[float], stopped_early: bool, tracked: bool
) -> bool | None:
    """The verdict of the module docstring; None when there were no intermediate evaluations."""
    if not tracked or len(curve) < 2:
        return None
    return not stopped_early and len(curve) - 1 - rule.best_index(curve, temperatures) < rule.patience


def copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """An in-memory copy of the weights on the CPU (the best evaluation's draft, kept to restore)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def describe(entry: dict[str, Any]) -> str:
    """One evaluation for a progress line: loss and alpha per temperature."""
    alphas = " ".join(f"T={t} {a:.3f}" for t, a in entry["acceptance"].items())
    return f"held-out loss {entry['loss']:.4f} alpha {alphas}"
