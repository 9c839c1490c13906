"""The interface every sampling engine implements, and the pieces both engines must share.

A backend receives requests whose prompts are already token ids (rendered once, by
`render_prompt`, with the teacher's chat template) and returns the engine's own response token ids:
both backends therefore see identical prompts and stop on identical tokens (`stop_token_ids`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SampleRequest:
    request_id: str
    prompt_token_ids: tuple[int, ...]
    temperature: float  # 0.0 = greedy (argmax), never a tiny temperature
    top_p: float
    seed: int  # per-request seed: the row is reproducible whatever else is in the batch
    max_new_tokens: int
    topk_logprobs: int  # 0 = off; else the teacher's top-k log-probs after temperature, per token


@dataclass
class SampleResult:
    request_id: str
    token_ids: list[int]  # includes the stop token when the response ended on one (as vLLM reports)
    finish_reason: str  # "stop" | "length"
    topk_token_ids: list[list[int]] | None = None
    topk_logprobs: list[list[float]] | None = None


# Called after each engine call with (rows finished, tokens generated) so the builder can report progress.
ProgressFn = Callable[[int, int], None]


class Backend(Protocol):
    name: str

    def version(self) -> str: ...

    def logprobs_mode(self) -> str: ...

    def generate(self, requests: list[SampleRequest], progress: ProgressFn | None = None) -> list[SampleResult]: ...

    def close(self) -> None: ...


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The one place prompts become token ids: the teacher's chat template with a generation prompt."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # transformers 5 may return a BatchEncoding
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def stop_token_ids(tokenizer: Any, model_path: str) -> list[int]:
    """EOS ids from the model's generation_config plus the tokenizer's EOS, deduplicated, in order."""
    from transformers import GenerationConfig

    ids: list[int] = []
    try:
        eos = GenerationConfig.from_pretrained(model_path).eos_token_id
        ids += eos if isinstance(eos, list) else ([eos] if eos is not None else [])
    except OSError:
        pass
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return list(dict.fromkeys(ids))
