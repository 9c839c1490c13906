"""Exact short-sequence distributions of a causal LM, and a chi-square goodness-of-fit test of samples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

from evaluate.probs import softmax_t


@torch.inference_mode()
def exact_bins(
    model, prompt: Sequence[int], length: int, temperature: float, n: int, eos: int, min_expected: float = 5.0
) -> dict[tuple[int, ...], float]:
    """P(c) for every continuation c of `length` tokens (fewer if it ends in EOS) with n·P(c) ≥ min_expected.

    Prefixes are expanded breadth-first. All prefixes at one depth have one length, so each depth is a
    single batched forward without padding.
    """
    bins: dict[tuple[int, ...], float] = {}
    frontier: dict[tuple[int, ...], float] = {(): 1.0}
    for depth in range(length):
        if not frontier:
            break
        prefixes = list(frontier)
        ids = torch.tensor([list(prompt) + list(p) for p in prefixes])
        probs = softmax_t(model(input_ids=ids, logits_to_keep=1).logits[:, -1], temperature).double()
        nxt: dict[tuple[int, ...], float] = {}
        for prefix, row in zip(prefixes, probs, strict=True):
            joint = row * frontier[prefix]
            for tok in torch.nonzero(joint * n >= min_expected).flatten().tolist():
                seq = prefix + (tok,)
                (bins if tok == eos or depth == length - 1 else nxt)[seq] = float(joint[tok])
        frontier = nxt
    return bins


def chi_square(
    samples: Sequence[Sequence[int]], bins: dict[tuple[int, ...], float]
) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of `samples` against `bins` plus one "other" bin."""
    n = len(samples)
    counts = Counter(tuple(s) for s in samples)
    expected = [n * p for p in bins.values()]
    observed = [counts.get(seq, 0) for seq in bins]
    other_e = n - sum(expected)
    other_o = n - sum(observed)
    if other_e >= 1.0:  # a near-empty "other" bin would only add noise
        expected.append(other_e)
        observed.append(other_o)
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(expected) - 1
    # Survival function of chi2(df): the regularized upper incomplete gamma Q(df/2, x/2) (no scipy here).
    p_value = float(
        torch.special.gammaincc(
            torch.tensor(df / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64)
        )
    )
    return stat, df, p_value
