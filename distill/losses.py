"""Token-level divergences between a teacher p and a draft q, and the top-k "rest bucket" construction.

Every function takes log-probabilities over one shared support, shape (N, S), and returns one
value per row (N,), so the same code serves the full vocabulary (online mode, S = V) and the
coarse top-k + rest support (topk mode, S = K + 1). p is always the teacher and is treated as a
constant (callers pass detached tensors); gradients flow through q only.

    fkl  KL(p || q)  = sum p (log p - log q)        mean-seeking: q covers every token p likes
    rkl  KL(q || p)  = sum q (log q - log p)        mode-seeking
    tvd  TV(p, q)    = 1/2 sum |p - q| = 1 - sum min(p, q)   exactly 1 - the speculative acceptance
    jsd  JSD_b(p, q) = b KL(p || m) + (1 - b) KL(q || m),  m = b p + (1 - b) q
         (a real mixture divergence: symmetric at b = 0.5, bounded by log 2, zero iff p = q)

Zero-probability entries contribute 0 (x log x -> 0), so supports with -inf log-probs are fine.
"""

from __future__ import annotations

import math

import torch

Divergence = str  # "fkl" | "rkl" | "tvd" | "jsd"


def _kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row; entries with p = 0 contribute exactly 0 even where log q = -inf."""
    p = logp.exp()
    terms = torch.where(p > 0, p * (logp - logq), torch.zeros_like(p))
    return terms.sum(-1)


def jsd(logp: torch.Tensor, logq: torch.Tensor, beta: float) -> torch.Tensor:
    # log m in log space (logsumexp of the weighted components): stable even where p or q underflow.
    logm = torch.logsumexp(torch.stack([logp + math.log(beta), logq + math.log(1 - beta)]), dim=0)
    return beta * _kl(logp, logm) + (1 - beta) * _kl(logq, logm)


def divergence(logp: torch.Tensor, logq: torch.Tensor, kind: Divergence, beta: float = 0.5) -> torch.Tensor:
    """Per-row divergence between teacher log-probs `logp` and draft log-probs `logq`: (N, S) -> (N,)."""
    if kind == "fkl":
        return _kl(logp, logq)
    if kind == "rkl":
        return _kl(logq, logp)
    if kind == "tvd":
        return 0.5 * (logp.exp() - logq.exp()).abs().sum(-1)
    if kind == "jsd":
        return jsd(logp, logq, beta)
    raise ValueError(f"unknown divergence {kind!r}")


def topk_with_rest(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The draft on the teacher's top-k ids plus one "rest" bucket: (N, V), (N, K) -> (N, K + 1) log-probs.

    The rest bucket holds the draft's exact mass outside the K ids, computed as a logsumexp over the
    masked logits (not 1 - sum, which loses precision when the top-k holds nearly everything).
    """
    logz = torch.logsumexp(logits, dim=-1, keepdim=True)
    top = logits.gather(-1, ids) - logz
    rest = torch.logsumexp(logits.scatter(-1, ids, float("-inf")), dim=-1, keepdim=True) - logz
    return torch.cat([top, rest], dim=-1)


# Floor of every teacher bucket. A bucket the teacher gives exactly zero (a rest emptied by rounding,
# a token cut by top-p and stored as -inf) would make KL(q || p) infinite wherever the draft puts mass.
TEACHER_FLOOR = 1e-8


def teacher_topk_with_rest(topk_logprobs: torch.Tensor) -> torch.Tensor:
    """The stored teacher top-k log-probs plus a rest bucket holding 1 - sum(top-k): (N, K) -> (N, K + 1).

    The stored values are log-probs under the teacher's full distribution, so top-k + rest sums to 1
    up to rounding; buckets are floored at TEACHER_FLOOR and renormalised, which also absorbs that rounding.
    """
    top = topk_logprobs.float().exp()
    rest = 1 - top.sum(-1, keepdim=True)
    probs = torch.cat([top, rest], dim=-1).clamp_min(TEACHER_FLOOR)
    return (probs / probs.sum(-1, keepdim=True)).log()
