"""The cost side of the speedup: c (draft step / target step) and the cost of a verify step, measured.

    probe = probe_step_costs(target, draft, prompt_ids, cache="static", compile_decode=True,
                             verify_ks=range(1, 9), temperature=1.0, decoder=spec)
    probe["c"], probe["verify_cost"][k], probe["target_step_s"]

Everything runs in the sampler's mode (cache kind, compiled decode forwards, warmed up first), EOS ignored:
- the target alone at `temperature` gives the unit, one target step (its forward, the draw, the host sync
  per token that an EOS check needs: what `evaluate run`'s target-alone baseline pays);
- with `verify_ks`, the speculative sampler itself runs a few steps at each k and the same temperature:
  c = its draft phase per drafted token, and verify_cost[k] = its whole step (draft, verify, the host work
  between steps) / one target step − c·k. So c·k + verify_cost[k] is the sampler's measured step, and the
  predicted speedup tokens_per_call / (c·k + verify_cost[k]) carries every overhead the sampler has.
  Round 4 of docs/study.md timed bare forwards instead and predicted ~1.3x too high.
- without `verify_ks`, only the draft alone: c = its decode step / the target's (the paper's model).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.kvcache import CacheKind
from evaluate.specdec import AutoregressiveDecoder, Generation, SpeculativeDecoder


def _decode_step_s(model, prompt_ids, steps: int, cache: CacheKind, compile_decode: bool, temperature: float):
    """Seconds per decode step of `model` alone (exactly `steps` steps: no EOS), after warm-up."""
    import torch

    dec = AutoregressiveDecoder(model, [], cache, len(prompt_ids) + steps + 8, compile_decode)
    g = torch.Generator(device=dec.device)
    for _ in range(2 if compile_decode else 1):  # compile, then (GPU) capture every graph
        dec.generate(prompt_ids, steps if compile_decode else 2, temperature, g.manual_seed(1))
    gen = dec.generate(prompt_ids, steps, temperature, g.manual_seed(0))
    return gen.decode_s / max(gen.target_calls, 1)


@contextmanager
def _no_eos(decoder: SpeculativeDecoder):
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


def _sampler_costs(decoder, prompt_ids, ks, steps: int, temperature: float, compile_decode: bool):
    """Per k: (full-step seconds, steps, draft seconds) of `steps`-ish sampler steps at `temperature`."""
    import torch

    room = decoder.max_len - len(prompt_ids) - decoder.k - 2
    g = torch.Generator(device=decoder.device)
    out = {}
    with _no_eos(decoder):
        for k in ks:
            tokens = min(steps * (k + 1), room)
            for _ in range(2 if compile_decode else 1):
                decoder.generate(prompt_ids, tokens, temperature, g.manual_seed(1), k=k)
            gen = decoder.generate(prompt_ids, tokens, temperature, g.manual_seed(0), k=k)
            out[k] = _full_steps_s(gen, k)
    if missing := [k for k, (_, n, _) in out.items() if n == 0]:
        raise ValueError(f"no full step of k = {missing} fits {room} tokens of room: probe smaller k")
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
) -> dict[str, Any]:
    """c, the target step and (with `verify_ks`) each k's verify cost, as the module docstring says.
    `decoder`: the SpeculativeDecoder the caller will time (reused: no second compile); else one is built
    for `draft`."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"temperature": temperature, "compiled": compile_decode}
    out["target_step_s"] = _decode_step_s(target, prompt_ids, steps, cache, compile_decode, temperature)
    if not verify_ks:
        out["draft_step_s"] = _decode_step_s(draft, prompt_ids, steps, cache, compile_decode, temperature)
        out["c"] = out["draft_step_s"] / out["target_step_s"]
    else:
        if decoder is None:
            max_len = len(prompt_ids) + steps * (max(verify_ks) + 1) + max(verify_ks) + 8
            decoder = SpeculativeDecoder(target, draft, max(verify_ks), [], cache, max_len, compile_decode)
        per_k = _sampler_costs(decoder, prompt_ids, verify_ks, steps, temperature, compile_decode)
        drafted = sum(k * n for k, (_, n, _) in per_k.items())
        out["draft_step_s"] = sum(d for _, _, d in per_k.values()) / max(drafted, 1)
        out["c"] = out["draft_step_s"] / out["target_step_s"]
        out["step_s"] = {k: s / max(n, 1) for k, (s, n, _) in per_k.items()}
        out["verify_cost"] = {k: s / out["target_step_s"] - out["c"] * k for k, s in out["step_s"].items()}
    out["seconds"] = time.perf_counter() - t0
    return out
