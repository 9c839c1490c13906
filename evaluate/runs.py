"""Run a decoder over a prompt list the way every timing in this package is taken.

Untimed warm-up first (lazy initialisation, allocator growth; compiled decoders: every graph), then one
generation per prompt seeded with seed + prompt index; `run_interleaved` alternates the sampler and the
target alone prompt by prompt. Shared by the sweep and benchmarks/bench_chained.py, so it must not import
pydantic or other CLI-only packages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch

from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder

OnPrompt = Callable[[int, int, int, float], None]  # (done, total, tokens so far, seconds so far)
Decoder = AutoregressiveDecoder | SpeculativeDecoder


def run_prompts(
    decoder: Decoder,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    warmup_tokens: int = 16,
    on_prompt: OnPrompt | None = None,
    k: int | None = None,
) -> list[Generation]:
    """`k`: drafts per step of a SpeculativeDecoder (default: its own k); None for the target alone."""
    per_call = {} if k is None else {"k": k}
    _warm_up(decoder, prompts[0], max_new_tokens, temperature, seed, warmup_tokens, per_call)
    gens: list[Generation] = []
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(prompts):
        gens.append(_seeded(decoder, prompt, max_new_tokens, temperature, seed + i, per_call))
        tokens += len(gens[-1].tokens)
        seconds += gens[-1].prefill_s + gens[-1].decode_s
        if on_prompt:
            on_prompt(i + 1, len(prompts), tokens, seconds)
    return gens


def run_interleaved(
    decoder: Decoder,
    alone: AutoregressiveDecoder,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    *,
    k: int | None = None,
    warmup_tokens: int = 16,
    on_prompt: OnPrompt | None = None,
    warm_alone: bool = True,
) -> tuple[list[Generation], list[Generation]]:
    """The sampler (at `k`, as in run_prompts) and the target alone on each prompt in turn, with the seeds
    run_prompts uses: the target alone first on even prompts, second on odd ones. A speedup is a ratio of
    two timings; taken minutes apart (the target alone once per temperature at the start of a sweep) it
    also holds whatever changed in between - docs/study.md round 4g timed the same target's step 11% shorter
    in one 16-prompt pass than in the passes around it on an H200. Interleaved, such a window reaches both
    sides alike. `on_prompt` reports the sampler's side. `warm_alone=False`: the target alone has run at
    this temperature already (the sweep's first pass), so no warm-up of its own. Returns (sampler gens,
    target-alone gens)."""
    per_call = {} if k is None else {"k": k}
    _warm_up(decoder, prompts[0], max_new_tokens, temperature, seed, warmup_tokens, per_call)
    if warm_alone:
        _warm_up(alone, prompts[0], max_new_tokens, temperature, seed, warmup_tokens, {})
    spec: list[Generation] = []
    base: list[Generation] = []
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(prompts):
        for side in ("alone", "spec") if i % 2 == 0 else ("spec", "alone"):
            if side == "alone":
                base.append(_seeded(alone, prompt, max_new_tokens, temperature, seed + i, {}))
            else:
                spec.append(_seeded(decoder, prompt, max_new_tokens, temperature, seed + i, per_call))
        tokens += len(spec[-1].tokens)
        seconds += spec[-1].prefill_s + spec[-1].decode_s
        if on_prompt:
            on_prompt(i + 1, len(prompts), tokens, seconds)
    return spec, base


def _warm_up(
    decoder: Decoder,
    prompt: Sequence[int],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    warmup_tokens: int,
    per_call: dict[str, int],
) -> None:
    """Untimed generations before the timed ones. A compiled GPU decoder compiles and captures a CUDA graph
    per decode shape: two full-length generations meet the shapes this (k, temperature) usually takes before
    timing starts (the first timed cell of round 4 in docs/study.md carried a compile after a short
    warm-up). A shape that only a rare path reaches (every draft accepted just before max_new_tokens) can
    still be captured while timed."""
    full = decoder.compiled and decoder.device.type == "cuda"
    count, length = (2, max_new_tokens) if full else (1, min(max_new_tokens, warmup_tokens))
    for _ in range(count):
        _seeded(decoder, prompt, length, temperature, seed - 1, per_call)


def _seeded(
    decoder: Decoder,
    prompt: Sequence[int],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    per_call: dict[str, int],
) -> Generation:
    generator = torch.Generator(device=decoder.device).manual_seed(seed)
    return decoder.generate(prompt, max_new_tokens, temperature, generator, **per_call)


def stop_token_ids(tokenizer, model) -> list[int]:
    """The tokenizer's EOS plus any the model's generation config adds (chat models often stop on several)."""
    extra = model.generation_config.eos_token_id
    extra = [extra] if isinstance(extra, int) else list(extra or [])
    return sorted({int(t) for t in [tokenizer.eos_token_id, *extra] if t is not None})


class SweepProgress:
    """Overall ETA of a sweep, counted in prompt runs (one decoder or baseline over one prompt).

    The ETA assumes every remaining prompt run costs what the finished ones did on average, including the
    untimed work between them (probes, analytic passes, warm-ups), so it is rough early and firms up."""

    def __init__(self, total_runs: int):
        self.total, self.done, self.started = total_runs, 0, time.perf_counter()

    def advance(self, runs: int = 1) -> None:
        self.done += runs

    def eta_s(self) -> float:
        elapsed = time.perf_counter() - self.started
        return elapsed / self.done * (self.total - self.done) if self.done else float("nan")


class PhaseClock:
    """Wall seconds per phase of a sweep (`with clock("target alone"): ...`), printed and reported."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def summary(self) -> str:
        total = sum(self.seconds.values()) or 1.0
        return ", ".join(f"{p} {s:.0f} s ({100 * s / total:.0f}%)" for p, s in self.seconds.items())


def progress_printer(
    label: str, temperature: float, sweep: SweepProgress | None = None, runs_per_prompt: int = 1
) -> OnPrompt:
    """A progress line per prompt on stderr: tokens/s so far, the ETA of this (label, T) cell and, with
    `sweep`, of the whole sweep. `runs_per_prompt`: decoder runs behind each reported prompt (2 for
    run_interleaved, which reports the sampler's tokens and seconds; the target alone beside it is counted
    as costing as much, which it does within the speedup)."""
    import sys

    def show(done: int, total: int, tokens: int, seconds: float) -> None:
        rate = tokens / seconds if seconds else 0.0
        eta = seconds / done * (total - done) * runs_per_prompt
        overall = ""
        if sweep is not None:
            sweep.advance(runs_per_prompt)
            overall = f", sweep ETA {sweep.eta_s():.0f} s ({sweep.done}/{sweep.total} prompt runs)"
        print(
            f"{label} T={temperature:g}: prompt {done}/{total}, {rate:.1f} tok/s, ETA {eta:.0f} s{overall}",
            file=sys.stderr,
            flush=True,
        )

    return show
