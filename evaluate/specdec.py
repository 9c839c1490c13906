"""Speculative sampling at batch size 1 (Leviathan et al. 2023; Chen et al. 2023), and the target alone.

    from evaluate.specdec import SpeculativeDecoder, AutoregressiveDecoder
    spec = SpeculativeDecoder(target, draft, k=4, eos_token_ids=[2])
    gen = spec.generate(prompt_ids, max_new_tokens=64, temperature=0.7,
                        generator=torch.Generator().manual_seed(0))
    gen.tokens, gen.accepted, gen.betas, gen.decode_s

One step, with the sequence s and the last token of s not yet in either KV cache ("pending"):
  1. the draft feeds its pending tokens and samples x1..xk from q1..qk (k one-token forwards);
  2. the target runs ONE forward over [last, x1..xk] and gets p1..p(k+1);
  3. x_i is accepted while u_i < p_i(x_i)/q_i(x_i); at the first rejection n+1 the next token comes from
     norm(max(0, p − q)) at that position, and if all k are accepted a bonus token comes from p(k+1);
  4. both caches roll back to the accepted prefix.
The output distribution is exactly the target's (tests/evaluate/test_lossless.py checks it). At T = 0
both models take argmaxes and acceptance is argmax agreement, so the output is the target's greedy output.

Efficiency: token ids, draft distributions and position ids live in buffers allocated once per decoder;
each step makes one device→host transfer (acceptance count, β's, candidate tokens) — the residual and
bonus candidates for every position are drawn before that transfer, so no second round trip is needed.
Nothing else waits for the device inside a step: draws use `probs.sample` (torch.multinomial syncs twice
per call) and the draft/verify split of each step is timed with CUDA events read after the generation.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.kvcache import CachedLM, CacheKind
from evaluate.probs import is_greedy, sample, softmax_t


@dataclass
class Step:
    """One draft-then-verify step."""

    drafted: int  # k for this step (smaller near max_new_tokens)
    accepted: int  # leading drafted tokens kept
    betas: list[float]  # Σ_x min(p, q) at verified positions 1..min(accepted + 1, drafted)
    draft_s: float
    target_s: float


@dataclass
class Generation:
    """One continuation of one prompt, with what it cost."""

    tokens: list[int]  # new tokens, cut after EOS / at max_new_tokens
    prefill_s: float  # prompt processing (both models for speculative decoding)
    decode_s: float  # everything after prefill
    target_calls: int  # decode-phase target forwards (one per step)
    draft_calls: int = 0
    steps: list[Step] = field(default_factory=list)

    drafted = property(lambda self: sum(s.drafted for s in self.steps), doc="Σ drafted over steps")
    accepted = property(lambda self: sum(s.accepted for s in self.steps), doc="Σ accepted over steps")
    draft_s = property(lambda self: sum(s.draft_s for s in self.steps), doc="Σ draft seconds over steps")
    target_s = property(lambda self: sum(s.target_s for s in self.steps), doc="Σ verify seconds over steps")

    @property
    def betas(self) -> list[float]:
        return [b for s in self.steps for b in s.betas]


def _clock(device: torch.device) -> float:
    # Kernels run asynchronously on GPU: wait for them so draft and target time are not mixed up.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class _Timeline:
    """Time points inside a generation that do not stall the device: CUDA events recorded on the stream
    and read after the generation's final sync (a synchronize per mark would leave the GPU idle while the
    host launches the next kernels), or perf_counter on the CPU."""

    def __init__(self, device: torch.device):
        self.stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self.marks: list[torch.cuda.Event | float] = []

    def mark(self) -> int:
        if self.stream is None:
            self.marks.append(time.perf_counter())
        else:
            event = torch.cuda.Event(enable_timing=True)
            event.record(self.stream)
            self.marks.append(event)
        return len(self.marks) - 1

    def seconds(self, start: int, end: int) -> float:
        """Seconds between two marks; on GPU only after the device has passed `end` (e.g. after _clock)."""
        a, b = self.marks[start], self.marks[end]
        if isinstance(a, float) and isinstance(b, float):
            return b - a
        return a.elapsed_time(b) / 1e3  # type: ignore[union-attr,arg-type]


def _cut(tokens: list[int], eos: frozenset[int], limit: int) -> tuple[list[int], bool]:
    """Tokens up to and including the first EOS, at most `limit`; and whether generation is over."""
    for i, t in enumerate(tokens[:limit]):
        if t in eos:
            return tokens[: i + 1], True
    return tokens[:limit], len(tokens) >= limit


class _Base:
    def __init__(self, device: torch.device, max_len: int, eos_token_ids: Sequence[int]):
        self.device = device
        self.max_len = max_len
        self.eos = frozenset(int(t) for t in eos_token_ids)
        self.ids = torch.zeros((1, max_len), dtype=torch.long, device=device)  # the sequence, reused

    def _load_prompt(self, prompt_ids: Sequence[int], max_new_tokens: int, reserve: int) -> int:
        n = len(prompt_ids)
        if n == 0:
            raise ValueError("empty prompt")
        if n + max_new_tokens + reserve > self.max_len:
            raise ValueError(
                f"prompt ({n}) + max_new_tokens ({max_new_tokens}) exceeds max_len {self.max_len}"
            )
        self.ids[0, :n].copy_(torch.as_tensor(list(prompt_ids), dtype=torch.long))
        return n

    def _generate(self, prompt_ids, max_new_tokens: int, reserve: int, decode) -> Generation:
        """Load, prefill, then `decode(n)`: one continuation with its prefill time."""
        n = self._load_prompt(prompt_ids, max_new_tokens, reserve)
        prefill_s = self._prefill(n)  # type: ignore[attr-defined]
        gen = decode(n)
        gen.prefill_s = prefill_s
        return gen

    def _sample(
        self, prompt_ids, num_samples: int, max_new_tokens: int, reserve: int, decode
    ) -> list[Generation]:
        """`num_samples` continuations `decode(n)` of one prompt, prefilled once."""
        n = self._load_prompt(prompt_ids, max_new_tokens, reserve)
        self._prefill(n)  # type: ignore[attr-defined]
        return [decode(n) for _ in range(num_samples)]


class AutoregressiveDecoder(_Base):
    """The target alone (or any model alone): one token per forward, same cache and buffers as the sampler."""

    def __init__(
        self,
        model: PreTrainedModel,
        eos_token_ids: Sequence[int],
        cache: CacheKind = "dynamic",
        max_len: int = 2048,
        compile_decode: bool = False,
    ):
        lm = CachedLM(model, cache, max_len, compile_decode)
        super().__init__(lm.device, max_len, eos_token_ids)
        self.lm = lm
        self.compiled = lm.compiled

    def _prefill(self, n: int) -> float:
        t0 = _clock(self.device)
        self.lm.reset()
        if n > 1:
            self.lm.forward(self.ids[:, : n - 1], keep=1, prefill=True)
        return _clock(self.device) - t0

    def _decode(
        self, n: int, max_new_tokens: int, temperature: float, generator: torch.Generator | None
    ) -> Generation:
        self.lm.rollback(n - 1)
        t0 = _clock(self.device)
        out: list[int] = []
        seq = n
        while len(out) < max_new_tokens:
            logits = self.lm.forward(self.ids[:, seq - 1 : seq], keep=1)[-1]
            if is_greedy(temperature):
                tok = logits.argmax(-1, keepdim=True)
            else:
                tok = sample(softmax_t(logits, temperature), generator)
            self.ids[0, seq : seq + 1] = tok
            seq += 1
            out.append(int(tok))  # the one host sync per token, needed for the EOS check
            if out[-1] in self.eos:
                break
        return Generation(tokens=out, prefill_s=0.0, decode_s=_clock(self.device) - t0, target_calls=len(out))

    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        temperature: float,
        generator: torch.Generator | None = None,
    ) -> Generation:
        return self._generate(
            prompt_ids, max_new_tokens, 1, lambda n: self._decode(n, max_new_tokens, temperature, generator)
        )

    def sample(
        self,
        prompt_ids: Sequence[int],
        num_samples: int,
        max_new_tokens: int,
        temperature: float,
        generator: torch.Generator | None = None,
    ) -> list[Generation]:
        """`num_samples` continuations of one prompt, prefilling it once (used by the statistical tests)."""
        return self._sample(
            prompt_ids,
            num_samples,
            max_new_tokens,
            1,
            lambda n: self._decode(n, max_new_tokens, temperature, generator),
        )


class SpeculativeDecoder(_Base):
    """Draft k tokens, verify them in one target forward, keep the accepted prefix (see module docstring)."""

    def __init__(
        self,
        target: PreTrainedModel,
        draft: PreTrainedModel,
        k: int,
        eos_token_ids: Sequence[int],
        cache: CacheKind = "dynamic",
        max_len: int = 2048,
        compile_decode: bool = False,
    ):
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        t_lm = CachedLM(target, cache, max_len, compile_decode)
        # The decoder owns its draft's tensors (a copy): swap_draft writes into them, and must never change
        # a model the caller holds. A draft is small next to the target, so the copy costs little memory.
        d_lm = CachedLM(copy.deepcopy(draft), cache, max_len, compile_decode)
        vt = target.get_output_embeddings().weight.shape[0]
        vd = draft.get_output_embeddings().weight.shape[0]
        if vt != vd:
            raise ValueError(
                f"target and draft vocabularies differ ({vt} vs {vd}): they must share a tokenizer"
            )
        if t_lm.device != d_lm.device:
            raise ValueError(f"target on {t_lm.device} but draft on {d_lm.device}")
        super().__init__(t_lm.device, max_len, eos_token_ids)
        self.target, self.draft, self.k = t_lm, d_lm, k
        self.compiled = compile_decode
        # The draft's distributions q1..qk of the current step, overwritten every step.
        self.q = torch.zeros((k, vt), dtype=torch.float32, device=self.device)
        self._rows = torch.arange(k + 1, device=self.device)

    def accepts_draft(self, draft: PreTrainedModel) -> bool:
        """Whether `draft` has this decoder's draft architecture (same parameter names and shapes)."""
        mine, theirs = self.draft.model.state_dict(), draft.state_dict()
        return mine.keys() == theirs.keys() and all(t.shape == theirs[n].shape for n, t in mine.items())

    def swap_draft(self, draft: PreTrainedModel) -> None:
        """Decode with `draft`'s weights from now on, copied into the decoder's own draft tensors.

        The copy is in place, so every parameter keeps its address: compiled graphs and captured CUDA
        graphs stay valid, and comparing N drafts of one architecture compiles once instead of N times.
        The tensors written are the decoder's copy (made at construction), never a model the caller holds.
        """
        if not self.accepts_draft(draft):
            raise ValueError(
                "draft architectures differ (parameter names or shapes): build a new SpeculativeDecoder"
            )
        mine, theirs = self.draft.model.state_dict(), draft.state_dict()
        with torch.no_grad():
            for name, tensor in mine.items():
                tensor.copy_(theirs[name])  # tied weights appear twice: copying the same values is harmless
        self.draft.reset()

    def _prefill(self, n: int) -> float:
        t0 = _clock(self.device)
        for lm in (self.target, self.draft):
            lm.reset()
            if n > 1:
                lm.forward(self.ids[:, : n - 1], keep=1, prefill=True)
        return _clock(self.device) - t0

    def _draft(self, seq: int, ks: int, temperature: float, generator: torch.Generator | None) -> None:
        """Write x1..x_ks into ids[seq: seq+ks] (and q1..q_ks into self.q when sampling)."""
        logits = self.draft.forward(self.ids[:, self.draft.length : seq], keep=1)[-1]
        for i in range(ks):
            if is_greedy(temperature):
                tok = logits.argmax(-1, keepdim=True)
            else:
                self.q[i].copy_(softmax_t(logits, temperature))
                tok = sample(self.q[i], generator)
            self.ids[0, seq + i : seq + i + 1] = tok
            if i + 1 < ks:  # the last draft token is fed next step (if accepted) or never
                logits = self.draft.forward(self.ids[:, seq + i : seq + i + 1], keep=1)[-1]

    def _verify(
        self, seq: int, ks: int, temperature: float, generator: torch.Generator | None
    ) -> tuple[int, list[float], list[int]]:
        """One target forward over [last, x1..x_ks] -> (accepted n, β at positions 1..ks, new tokens)."""
        logits = self.target.forward(self.ids[:, seq - 1 : seq + ks], keep=ks + 1)  # [ks+1, V]
        x = self.ids[0, seq : seq + ks]
        rows = self._rows[:ks]
        if is_greedy(temperature):
            best = logits.argmax(-1)  # [ks+1]
            match = best[:ks] == x
            n_acc = match.long().cumprod(0).sum()
            betas = match.float()
            candidates = best  # the target's own token at each position (mismatch or bonus)
        else:
            p = softmax_t(logits, temperature)
            q = self.q[:ks]
            u = torch.rand(ks, generator=generator, device=self.device)
            # u < p(x)/q(x), written without the division; q(x) > 0 because x was drawn from q.
            accept = u * q[rows, x] < p[rows, x]
            n_acc = accept.long().cumprod(0).sum()
            betas = torch.minimum(p[:ks], q).sum(-1)
            # Candidate for every position, drawn before n is known so the step needs one host sync:
            # residual norm(max(0, p - q)) at positions 1..ks, plain p at the bonus position ks+1.
            weights = p.clone()
            residual = (p[:ks] - q).clamp_(min=0)
            # Where p == q numerically, rejection cannot happen and the candidate is never used.
            degenerate = residual.sum(-1, keepdim=True) <= 0
            weights[:ks] = torch.where(degenerate, p[:ks], residual)
            candidates = sample(weights, generator).squeeze(1)
        info = torch.cat(
            [
                n_acc.view(1).to(torch.float64),
                betas.to(torch.float64),
                x.to(torch.float64),
                candidates.to(torch.float64),
            ]
        ).tolist()
        n = int(info[0])
        drafted = [int(t) for t in info[1 + ks : 1 + 2 * ks]]
        new_tokens = drafted[:n] + [int(info[1 + 2 * ks + n])]
        self.ids[0, seq + n] = candidates[n]
        return n, info[1 : 1 + min(n + 1, ks)], new_tokens

    def _step_k(self, k: int | None) -> int:
        """Drafts per step for one call: the decoder's k, or a smaller one (buffers are sized for self.k)."""
        if k is None:
            return self.k
        if not 1 <= k <= self.k:
            raise ValueError(f"k must be in 1..{self.k} (the decoder's k), got {k}")
        return k

    def _decode(
        self,
        n: int,
        max_new_tokens: int,
        temperature: float,
        generator: torch.Generator | None,
        k: int,
    ) -> Generation:
        self.target.rollback(n - 1)
        self.draft.rollback(min(self.draft.length, n - 1))
        t_start = _clock(self.device)
        gen = Generation(tokens=[], prefill_s=0.0, decode_s=0.0, target_calls=0)
        timeline, marks = _Timeline(self.device), []
        seq = n
        done = False
        while not done:
            # Fewer drafts near the end: tokens past max_new_tokens would be thrown away.
            ks = min(k, max_new_tokens - len(gen.tokens) - 1)
            m0 = timeline.mark()
            if ks > 0:  # 1. draft
                self._draft(seq, ks, temperature, generator)
                gen.draft_calls += ks
            m1 = timeline.mark()
            if ks > 0:  # 2.-3. verify in one target forward, accept, resample or take the bonus
                acc, betas, new = self._verify(seq, ks, temperature, generator)
            else:  # one token left: a plain target step
                acc, betas, new = 0, [], [self._target_token(seq, temperature, generator)]
            marks.append((m0, m1, timeline.mark()))
            kept, done = _cut(new, self.eos, max_new_tokens - len(gen.tokens))
            # Positions after an accepted EOS are not part of the output: their β does not count.
            gen.target_calls += 1
            gen.steps.append(
                Step(drafted=ks, accepted=acc, betas=betas[: len(kept)], draft_s=0.0, target_s=0.0)
            )
            gen.tokens += kept
            seq += acc + 1
            # 4. The target cached [.., last, x1..x_ks]: keep up to x_acc (the new token is pending).
            self.target.rollback(seq - 1)
            self.draft.rollback(min(self.draft.length, seq - 1))
        gen.decode_s = _clock(self.device) - t_start
        for step, (m0, m1, m2) in zip(gen.steps, marks, strict=True):
            step.draft_s, step.target_s = timeline.seconds(m0, m1), timeline.seconds(m1, m2)
        return gen

    def _target_token(self, seq: int, temperature: float, generator: torch.Generator | None) -> int:
        """One plain target step (the last token before max_new_tokens): writes ids[seq] and returns it."""
        logits = self.target.forward(self.ids[:, seq - 1 : seq], keep=1)[-1]
        tok = (
            logits.argmax(-1, keepdim=True)
            if is_greedy(temperature)
            else sample(softmax_t(logits, temperature), generator)
        )
        self.ids[0, seq : seq + 1] = tok
        return int(tok)

    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        temperature: float,
        generator: torch.Generator | None = None,
        k: int | None = None,
    ) -> Generation:
        """One continuation; `k` (≤ the decoder's k) drafts per step for this call only. Every decode shape
        of a smaller k also occurs near max_new_tokens, so a compiled decoder's graphs stay valid."""
        k = self._step_k(k)
        return self._generate(
            prompt_ids,
            max_new_tokens,
            self.k + 1,
            lambda n: self._decode(n, max_new_tokens, temperature, generator, k),
        )

    def sample(
        self,
        prompt_ids: Sequence[int],
        num_samples: int,
        max_new_tokens: int,
        temperature: float,
        generator: torch.Generator | None = None,
        k: int | None = None,
    ) -> list[Generation]:
        """`num_samples` continuations of one prompt, prefilling it once (used by the statistical tests)."""
        k = self._step_k(k)
        return self._sample(
            prompt_ids,
            num_samples,
            max_new_tokens,
            self.k + 1,
            lambda n: self._decode(n, max_new_tokens, temperature, generator, k),
        )
