"""A measured speedup's two timings taken side by side: `evaluate.runs.run_interleaved` alternates the sampler
and the target alone prompt by prompt, so a change in the machine's speed between the sweep's first pass and
a later cell reaches both sides (docs/study.md round 4g: one target-alone pass ran 11% fast on an H200).

    .venv/bin/python -m pytest tests/evaluate/test_interleaved_baseline.py -q
"""

from __future__ import annotations

import time

import torch

from evaluate.runs import run_interleaved, run_prompts
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder


def _per_token(gens) -> float:
    return sum(g.decode_s for g in gens) / sum(len(g.tokens) for g in gens)


def _slow_down(model: torch.nn.Module, factor: float) -> list:
    """From now on every forward of `model`'s decoder stack takes `factor` times as long (it sleeps the
    difference): a machine that got slower, injected into the real model. (The decoders call the causal LM's
    `forward` directly, which skips its own hooks; its decoder stack is called as a module.)"""
    started: list[float] = []
    model = model.get_decoder()
    pre = model.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
    post = model.register_forward_hook(
        lambda *_: time.sleep((factor - 1) * (time.perf_counter() - started.pop()))
    )
    return [pre, post]


def test_the_sampler_and_the_target_alone_alternate_with_run_prompts_seeds(tiny_pair, tiny_prompts):
    target, draft, _ = tiny_pair
    prompts = tiny_prompts[:4]
    spec = SpeculativeDecoder(target, draft, 2, [])
    alone = AutoregressiveDecoder(target, [])
    order: list[str] = []
    for name, dec in (("spec", spec), ("alone", alone)):
        real = dec.generate
        dec.generate = lambda *a, _real=real, _name=name, **kw: order.append(_name) or _real(*a, **kw)
    gens, beside = run_interleaved(spec, alone, prompts, 6, 1.0, seed=3, k=2)
    timed = order[2:]  # one warm-up generation each first (CPU)
    assert order[:2] == ["spec", "alone"]
    assert timed == ["alone", "spec", "spec", "alone"] * 2  # the target alone first on even prompts
    del spec.generate, alone.generate
    assert [g.tokens for g in gens] == [g.tokens for g in run_prompts(spec, prompts, 6, 1.0, 3, k=2)]
    assert [g.tokens for g in beside] == [g.tokens for g in run_prompts(alone, prompts, 6, 1.0, 3)]


def test_a_slowdown_after_the_first_pass_biases_a_once_timed_baseline_not_an_interleaved_one(
    tiny_pair, tiny_prompts
):
    """The same work on both sides (the target alone against itself) must read 1x. Timed once at the start
    and then in a window where the machine runs 3x slower, it reads ~1/3; interleaved, ~1."""
    target, _, _ = tiny_pair
    prompts = tiny_prompts[:8]
    first_pass, later = AutoregressiveDecoder(target, []), AutoregressiveDecoder(target, [])
    baseline = run_prompts(first_pass, prompts, 12, 0.0, seed=0)
    hooks = _slow_down(target, 3.0)
    try:
        once = run_prompts(later, prompts, 12, 0.0, seed=0)
        measured, beside = run_interleaved(later, first_pass, prompts, 12, 0.0, seed=0)
    finally:
        for hook in hooks:
            hook.remove()
    assert _per_token(baseline) / _per_token(once) < 0.6
    assert 0.8 < _per_token(beside) / _per_token(measured) < 1.25
