"""A measured speedup's two timings taken side by side: `evaluate.runs.run_interleaved` alternates the sampler
and the target alone prompt by prompt, so a change in the machine's speed between the sweep's first pass and
a later cell reaches both sides (docs/study.md round 4g: one target-alone pass ran 11% fast on an H200).

    .venv/bin/python -m pytest tests/evaluate/test_interleaved_baseline.py -q
"""

from __future__ import annotations

import statistics
import time

import torch

from evaluate.runs import SweepProgress, progress_printer, run_interleaved, run_prompts
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder


def _per_token(gens) -> float:
    return sum(g.decode_s for g in gens) / sum(len(g.tokens) for g in gens)


def _median_ratio(beside, measured) -> float:
    """The median over prompts of (time per token beside) / (time per token measured): a speedup's shape."""
    return statistics.median(_per_token([a]) / _per_token([b]) for a, b in zip(beside, measured, strict=True))


class _Slowdown:
    """From its `after`-th forward on, every forward of `model`'s decoder stack takes `factor` times as long
    (it sleeps the difference): a machine that got slower partway through a run, injected into the real
    model whatever order the run takes. (The decoders call the causal LM's `forward` directly, which skips
    its own hooks; its decoder stack is called as a module.)"""

    def __init__(self, model: torch.nn.Module, factor: float, after: int) -> None:
        self.calls, self.started = 0, 0.0
        stack = model.get_decoder()
        self.hooks = [stack.register_forward_pre_hook(self._pre), stack.register_forward_hook(self._post)]
        self.factor, self.after = factor, after

    def _pre(self, *_) -> None:
        self.calls += 1
        self.started = time.perf_counter()

    def _post(self, *_) -> None:
        if self.calls > self.after:
            time.sleep((self.factor - 1) * (time.perf_counter() - self.started))

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()


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
    order.clear()  # a target alone that has run at this temperature already gets no warm-up of its own
    run_interleaved(spec, alone, prompts[:2], 6, 1.0, seed=3, k=2, warm_alone=False)
    assert order == ["spec", "alone", "spec", "spec", "alone"]
    del spec.generate, alone.generate
    assert [g.tokens for g in gens] == [g.tokens for g in run_prompts(spec, prompts, 6, 1.0, 3, k=2)]
    assert [g.tokens for g in beside] == [g.tokens for g in run_prompts(alone, prompts, 6, 1.0, 3)]


def test_a_slowdown_partway_biases_a_once_timed_baseline_not_an_interleaved_one(tiny_pair, tiny_prompts):
    """The same work on both sides (the target alone against itself) must read 1x. The machine turns 3x
    slower halfway through (counted in forwards): timed one side after the other it reads ~1/3; interleaved,
    ~1 - an interleave that ran one side after the other would read ~1/3 here too."""
    target, _, _ = tiny_pair
    prompts = tiny_prompts[:8]
    first, second = AutoregressiveDecoder(target, []), AutoregressiveDecoder(target, [])
    count = _Slowdown(target, 1.0, after=0)  # counts the forwards of one run, slows nothing
    run_interleaved(second, first, prompts, 12, 0.0, seed=0)
    count.remove()

    def halfway_slower(run):
        slow = _Slowdown(target, 3.0, after=count.calls // 2)
        try:
            return run()
        finally:
            slow.remove()

    baseline, once = halfway_slower(
        lambda: (run_prompts(first, prompts, 12, 0.0, seed=0), run_prompts(second, prompts, 12, 0.0, seed=0))
    )
    measured, beside = halfway_slower(lambda: run_interleaved(second, first, prompts, 12, 0.0, seed=0))
    # per prompt (time per token beside / measured), the median: one prompt disturbed by a busy CI machine
    # moves it little (sums over prompts read 0.72-1.31 interleaved on a loaded 2-core machine)
    assert _median_ratio(baseline, once) < 0.6
    assert 0.7 < _median_ratio(beside, measured) < 1.4


def test_an_interleaved_progress_line_counts_the_target_alone_beside_the_sampler(capsys):
    """run_interleaved reports the sampler's tokens and seconds; the cell's ETA and the sweep's count add
    the target-alone run beside each prompt."""
    sweep = SweepProgress(8)
    show = progress_printer("[evaluate] d", 0.0, sweep, runs_per_prompt=2)
    show(1, 4, 10, 2.0)  # 1 of 4 prompts: 10 sampler tokens in 2 s
    err = capsys.readouterr().err
    assert "prompt 1/4, 5.0 tok/s, ETA 12 s" in err and "(2/8 prompt runs)" in err
