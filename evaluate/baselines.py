"""Measured baselines: transformers `generate` for the target alone and with assisted generation.

Assisted generation runs with the same k every step: `num_assistant_tokens = k`, schedule "constant", and
`assistant_confidence_threshold = 0` (transformers otherwise stops drafting early when the draft is
unsure, so "k" would not mean k). Sampling is pure temperature sampling: `top_k=0, top_p=1` (transformers
5 applies top_k=50 by default). Each prompt is seeded with `torch.manual_seed(seed + i)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

from evaluate.specdec import _clock


@dataclass
class HFRun:
    tokens: int
    seconds: float  # prompt processing included: generate() does not separate it

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")

    def __add__(self, other: HFRun) -> HFRun:
        return HFRun(self.tokens + other.tokens, self.seconds + other.seconds)

    def to_dict(self) -> dict[str, float]:
        return {
            "tokens": self.tokens,
            "seconds": self.seconds,
            "tokens_per_s": self.tokens_per_s,
            "s_per_token": self.seconds / self.tokens if self.tokens else float("nan"),
        }


def configure_assistant(draft: PreTrainedModel, k: int) -> None:
    gc = draft.generation_config
    gc.num_assistant_tokens = k
    gc.num_assistant_tokens_schedule = "constant"
    gc.assistant_confidence_threshold = 0.0


@torch.inference_mode()
def hf_generate(
    target: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float,
    seed: int,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    assistant: PreTrainedModel | None = None,
    k: int = 4,
) -> HFRun:
    """Batch-1 `generate` over `prompts`, one call per prompt; total new tokens and wall time."""
    device = next(target.parameters()).device
    kwargs: dict = {
        "max_new_tokens": max_new_tokens,
        "eos_token_id": list(eos_token_ids),
        "pad_token_id": pad_token_id,
        "do_sample": temperature > 0,
    }
    if temperature > 0:
        kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
    if assistant is not None:
        configure_assistant(assistant, k)
        kwargs["assistant_model"] = assistant
    tokens, seconds = 0, 0.0
    for i, prompt in enumerate(prompts):
        ids = torch.as_tensor([list(prompt)], dtype=torch.long, device=device)
        torch.manual_seed(seed + i)
        t0 = _clock(device)
        out = target.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)  # type: ignore[operator]
        seconds += _clock(device) - t0
        tokens += out.shape[1] - ids.shape[1]
    return HFRun(tokens=tokens, seconds=seconds)
