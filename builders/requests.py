"""Expand prompts into sampling requests: prompt x temperature x sample index, with stable seeds.

Requests are ordered prompt-major, so one shard holds every temperature of a prompt and an engine
with prefix caching prefills each prompt once. The same recipe always yields the same requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from builders.recipe import SamplingSpec
from builders.sources import Prompt


@dataclass(frozen=True)
class PlannedRequest:
    request_id: str
    prompt: Prompt
    temperature: float
    sample_index: int
    seed: int


def temperature_tag(t: float) -> str:
    """Config name of a temperature, Hub-safe (no dots): 0.7 -> 't0_7', 1 -> 't1_0', 0.25 -> 't0_25'."""
    text = f"{t:.1f}" if abs(t * 10 - round(t * 10)) < 1e-9 else f"{t:g}"
    return "t" + text.replace(".", "_")


def request_seed(root_seed: int, prompt_id: str, temperature: float, sample_index: int) -> int:
    blob = f"{root_seed}|{prompt_id}|{temperature!r}|{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF  # 31 bits: every engine accepts it


def expand_requests(prompts: list[Prompt], sampling: SamplingSpec, root_seed: int) -> list[PlannedRequest]:
    out = []
    for prompt in prompts:
        for t in sampling.temperature_grid():
            # Greedy decoding has one answer: more samples would only be duplicates.
            n = 1 if t == 0 else sampling.samples_per_prompt
            for i in range(n):
                rid = f"{prompt.prompt_id}-{temperature_tag(t)}-s{i}"
                out.append(PlannedRequest(rid, prompt, t, i, request_seed(root_seed, prompt.prompt_id, t, i)))
    return out
