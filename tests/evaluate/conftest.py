"""Fixtures for the evaluate tests: the tiny trained teacher as target, a layer-truncated draft.

Torch runs single-threaded here: on the shared 2-core machine, two OpenMP threads competing with other
jobs made a tiny-model forward 8–30× slower than one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_teacher_dir(request: pytest.FixtureRequest) -> Path:
    """The shared `tiny_teacher`, built single-threaded if these tests are the first to ask for it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return request.getfixturevalue("tiny_teacher")
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_pair(tiny_teacher_dir: Path):
    """(target, draft, tokenizer): the 4-layer tiny teacher in fp32 and a copy of its first 2 layers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.models import first_n_layers

    tiny_teacher = tiny_teacher_dir
    target = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    return target, first_n_layers(target, 2), AutoTokenizer.from_pretrained(tiny_teacher)


@pytest.fixture(scope="session")
def tiny_prompts(tiny_pair, shared_data: Path) -> list[list[int]]:
    """Chat-templated GSM8K test questions, as token ids."""
    import json

    tokenizer = tiny_pair[2]
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:32]
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": json.loads(x)["question"][:200]}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        for x in lines
    ]
