"""The speculative-decoding cost model (Leviathan et al. 2023; docs/design-notes.md, "The science in
five lines").

With per-position acceptance α (i.i.d. assumption), k drafted tokens per step and draft/target cost
ratio c:  tokens per target call = (1 − α^(k+1)) / (1 − α);  speedup = that / (c·k + 1).
"""

from __future__ import annotations


def expected_tokens_per_call(alpha: float, k: int) -> float:
    """Block efficiency predicted from α; the α → 1 limit is k + 1 (every draft accepted + the bonus)."""
    if alpha >= 1.0 - 1e-12:
        return float(k + 1)
    return (1.0 - alpha ** (k + 1)) / (1.0 - alpha)


def predicted_speedup(alpha: float, k: int, c: float, verify_cost: float = 1.0) -> float:
    """Wall-time improvement over the target alone.

    `verify_cost` is the cost of one target pass over k+1 tokens relative to a one-token pass; the
    paper's model takes it as 1 (memory-bound GPUs). Passing the measured value explains the gap on
    compute-bound machines (CPU), where verifying 5 tokens costs more than decoding 1.
    """
    return expected_tokens_per_call(alpha, k) / (c * k + verify_cost)
