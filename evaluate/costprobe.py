"""The cost side of the speedup: c (draft step / target step) and the cost of a verify step, measured.

    probe = probe_step_costs(target, draft, prompt_ids, cache="static", compile_decode=True,
                             verify_ks=range(1, 9), temperature=1.0, decoder=spec)
    probe["c"], probe["verify_cost"][k], probe["target_step_s"]

Everything runs in the sampler's mode (cache kind, compiled decode forwards, warmed up first), EOS ignored:
- the target alone at `temperature` gives the unit, one target step (its forward, the draw, the host sync
  per token that an EOS check needs: what `evaluate run`'s target-alone baseline pays; `evaluate run`
  passes the very decoder its baseline runs on, so the unit has the baseline's cache size and graphs);
- with `verify_ks`, the speculative sampler itself runs a few steps at each k and the same temperature:
  c = its draft phase per drafted token, and verify_cost[k] = its whole step (draft, verify, the host work
  between steps) / one target step − c·k. So c·k + verify_cost[k] is the sampler's measured step, and the
  predicted speedup tokens_per_call / (c·k + verify_cost[k]) carries every overhead the sampler has.
  Round 4 of docs/study.md timed bare forwards instead and predicted ~1.3x too high.
- without `verify_ks`, only the draft alone: c = its decode step / the target's (the paper's model).
Each quantity is the median of `rounds` timed rounds in which target and sampler alternate; `spread[k]`
says how far apart the rounds put k's step (a probe's own noise, next to the prediction it prices).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.config import PROBE_ROUNDS
from evaluate.kvcache import CacheKind
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder


def _decode_timer(
    model,
    prompt_ids,
    steps: int,
    cache: CacheKind,
    compile_decode: bool,
    temperature: float,
    decoder: AutoregressiveDecoder | None = None,
):
    """Warm `model`'s decoder up (compile, then capture every graph on a GPU); returns a function that times
    one run of exactly `steps` steps (no EOS; fewer when `decoder`'s cache has less room): seconds per
    decode step. `decoder`: the caller's own decoder of `model` (reused: the same cache size and graphs as
    the runs it prices, and no second compile); else one is built for this probe."""
    import torch

    dec = decoder or AutoregressiveDecoder(model, [], cache, len(prompt_ids) + steps + 8, compile_decode)
    steps = min(steps, dec.max_len - len(prompt_ids) - 1)
    g = torch.Generator(device=dec.device)
    with _no_eos(dec):
        for _ in range(2 if compile_decode else 1):
            dec.generate(prompt_ids, steps if compile_decode else 2, temperature, g.manual_seed(1))

    def timed() -> float:
        with _no_eos(dec):
            gen = dec.generate(prompt_ids, steps, temperature, g.manual_seed(0))
        return gen.decode_s / max(gen.target_calls, 1)

    return timed


@contextmanager
def _no_eos(decoder: AutoregressiveDecoder | SpeculativeDecoder):
    """Run a caller's decoder without stopping at EOS (the probe needs a fixed number of steps)."""
    eos, decoder.eos = decoder.eos, frozenset()
    try:
        yield decoder
    finally:
        decoder.eos = eos


def _full_steps_s(gen: Generation, k: int) -> tuple[float, int, float]:
    """(seconds of the full-k steps including their share of host time between steps, their count,
    draft seconds of those steps)."""
    full = [s for s in gen.steps if s.drafted == k]
    timed = sum(s.draft_s + s.target_s for s in gen.steps)
    between = (gen.decode_s - timed) / max(len(gen.steps), 1)  # host work between steps, per step
    return sum(s.draft_s + s.target_s + between for s in full), len(full), sum(s.draft_s for s in full)


def _sampler_timer(decoder, prompt_ids, ks, steps: int, temperature: float, compile_decode: bool):
    """Warm the sampler up at each k; returns a function that times one run per k: {k: (full-step seconds,
    steps, draft seconds)} of `steps`-ish sampler steps at `temperature`."""
    import torch

    room = decoder.max_len - len(prompt_ids) - decoder.k - 2
    tokens = {k: min(steps * (k + 1), room) for k in ks}
    g = torch.Generator(device=decoder.device)
    with _no_eos(decoder):
        for k in ks:
            for _ in range(2 if compile_decode else 1):
                decoder.generate(prompt_ids, tokens[k], temperature, g.manual_seed(1), k=k)

    def timed() -> dict[int, tuple[float, int, float]]:
        with _no_eos(decoder):
            out = {
                k: _full_steps_s(
                    decoder.generate(prompt_ids, tokens[k], temperature, g.manual_seed(0), k=k), k
                )
                for k in ks
            }
        if missing := [k for k, (_, n, _) in out.items() if n == 0]:
            raise ValueError(f"no full step of k = {missing} fits {room} tokens of room: probe smaller k")
        return out

    return timed


Round = tuple[float, float, dict[int, float]]  # (target step s, c, each k's sampler step in target steps)


def combine(rounds: list[Round]) -> dict[str, Any]:
    """The probe from its timed rounds: the median of each quantity, each in the round's own target steps
    (a slow round, e.g. another process on the host, moves a median of 5 rounds no more than its neighbours
    do), and how far apart the rounds put each k's step (`spread`: (max - min) / median)."""
    unit = statistics.median(r[0] for r in rounds)
    c = statistics.median(r[1] for r in rounds)
    out: dict[str, Any] = {"target_step_s": unit, "draft_step_s": c * unit, "c": c, "rounds": len(rounds)}
    if rounds[0][2]:
        ks = list(rounds[0][2])
        step = {k: statistics.median(r[2][k] for r in rounds) for k in ks}
        out["step_s"] = {k: step[k] * unit for k in ks}
        out["verify_cost"] = {k: step[k] - c * k for k in ks}
        out["spread"] = {
            k: (max(r[2][k] for r in rounds) - min(r[2][k] for r in rounds)) / step[k] for k in ks
        }
    return out


def probe_step_costs(
    target: PreTrainedModel,
    draft: PreTrainedModel,
    prompt_ids: Sequence[int],
    steps: int = 16,
    cache: CacheKind = "dynamic",
    compile_decode: bool = False,
    verify_ks: Sequence[int] = (),
    temperature: float = 0.0,
    decoder: SpeculativeDecoder | None = None,
    rounds: int = PROBE_ROUNDS,
    alone: AutoregressiveDecoder | None = None,
) -> dict[str, Any]:
    """c, the target step and (with `verify_ks`) each k's verify cost, as the module docstring says.
    `decoder`: the SpeculativeDecoder the caller will time (reused: no second compile); else one is built
    for `draft`. `alone`: the caller's target-alone decoder, whose step is the unit (the one its measured
    speedups divide; reused: same cache size, no second compile); else one is built."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1 (got {rounds})")
    t0 = time.perf_counter()
    target_step = _decode_timer(target, prompt_ids, steps, cache, compile_decode, temperature, alone)
    timed: list[Round] = []
    if not verify_ks:
        draft_step = _decode_timer(draft, prompt_ids, steps, cache, compile_decode, temperature)
        for _ in range(rounds):
            unit = target_step()
            timed.append((unit, draft_step() / unit, {}))
    else:
        if decoder is None:
            max_len = len(prompt_ids) + steps * (max(verify_ks) + 1) + max(verify_ks) + 8
            decoder = SpeculativeDecoder(target, draft, max(verify_ks), [], cache, max_len, compile_decode)
        sampler = _sampler_timer(decoder, prompt_ids, verify_ks, steps, temperature, compile_decode)
        for _ in range(rounds):  # target and sampler alternate: drift on the host hits both alike
            unit, per_k = target_step(), sampler()
            drafted = sum(k * n for k, (_, n, _) in per_k.items())
            c = sum(d for _, _, d in per_k.values()) / max(drafted, 1) / unit
            timed.append((unit, c, {k: s / max(n, 1) / unit for k, (s, n, _) in per_k.items()}))
    out = {"temperature": temperature, "compiled": compile_decode} | combine(timed)
    out["seconds"] = time.perf_counter() - t0
    return out
