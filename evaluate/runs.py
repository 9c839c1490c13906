"""Run a decoder over a prompt list the way every timing in this package is taken.

One untimed warm-up generation first (lazy initialisation, allocator growth, compiled graphs), then one
generation per prompt seeded with seed + prompt index. Shared by the sweep and benchmarks/bench_specdec.py,
so it must not import pydantic or other CLI-only packages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder

OnPrompt = Callable[[int, int, int, float], None]  # (done, total, tokens so far, seconds so far)


def run_prompts(
    decoder: AutoregressiveDecoder | SpeculativeDecoder,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    warmup_tokens: int = 16,
    on_prompt: OnPrompt | None = None,
) -> list[Generation]:
    device = decoder.device
    decoder.generate(
        prompts[0],
        min(max_new_tokens, warmup_tokens),
        temperature,
        torch.Generator(device=device).manual_seed(seed - 1),
    )
    gens: list[Generation] = []
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(prompts):
        gen = decoder.generate(
            prompt, max_new_tokens, temperature, torch.Generator(device=device).manual_seed(seed + i)
        )
        gens.append(gen)
        tokens += len(gen.tokens)
        seconds += gen.prefill_s + gen.decode_s
        if on_prompt:
            on_prompt(i + 1, len(prompts), tokens, seconds)
    return gens


def stop_token_ids(tokenizer, model) -> list[int]:
    """The tokenizer's EOS plus any the model's generation config adds (chat models often stop on several)."""
    extra = model.generation_config.eos_token_id
    extra = [extra] if isinstance(extra, int) else list(extra or [])
    return sorted({int(t) for t in [tokenizer.eos_token_id, *extra] if t is not None})


def progress_printer(label: str, temperature: float) -> OnPrompt:
    """A progress line per prompt on stderr: tokens/s so far and the ETA of this (label, T) cell."""
    import sys

    def show(done: int, total: int, tokens: int, seconds: float) -> None:
        rate = tokens / seconds if seconds else 0.0
        eta = seconds / done * (total - done)
        print(
            f"{label} T={temperature:g}: prompt {done}/{total}, {rate:.1f} tok/s, ETA {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    return show
