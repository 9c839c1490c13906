"""The sampler's output distribution is the target's: chi-square tests on short continuations.

Setup: target = the tiny trained teacher, draft = its first 2 layers (acceptance ≈ 0.3–0.5, so every path
— acceptance, residual resampling, bonus token — is taken many times). The context ends inside a GSM8K
calculation ("… = "), where the target's next tokens are peaked enough for a few hundred samples to fill
bins. Continuations of 3 tokens with k = 2 run one full 2-token verification first; the joint law of the
first two tokens (and of all three) is compared with the target's exact probabilities. The draft's own
samples, put through the same statistic, must be rejected: the test has power.
"""

from __future__ import annotations

import json

import pytest
import torch

from distill.models import first_n_layers
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder
from tests.evaluate.chisq import chi_square, exact_bins

N = 500


@pytest.fixture(scope="module")
def context(tiny_pair, shared_data) -> list[int]:
    tokenizer = tiny_pair[2]
    row = json.loads((shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[5])
    answer = row["answer"][: row["answer"].find("=") + 1]  # "... 60/100 * 5 ="
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": row["question"][:200]}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    return chat + tokenizer(answer).input_ids


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_speculative_samples_follow_the_target(tiny_pair, context, temperature):
    target, draft, tokenizer = tiny_pair
    eos = tokenizer.eos_token_id
    spec = SpeculativeDecoder(target, draft, k=2, eos_token_ids=[eos], max_len=256)
    gens = spec.sample(
        context, N, max_new_tokens=3, temperature=temperature, generator=torch.Generator().manual_seed(1234)
    )
    rate = sum(g.accepted for g in gens) / sum(g.drafted for g in gens)
    assert 0.05 < rate < 0.95, f"acceptance {rate:.2f}: both accept and reject paths must be exercised"
    assert any(g.steps[0].accepted == 2 for g in gens), "the bonus path was never taken"

    pairs = exact_bins(target, context, 2, temperature, N, eos)
    assert len(pairs) >= 10
    stat, df, p = chi_square([g.tokens[:2] for g in gens], pairs)
    assert p > 1e-3, f"first two tokens: chi2={stat:.1f} df={df} p={p:.2e}"
    triples = exact_bins(target, context, 3, temperature, N, eos)
    if len(triples) >= 3:
        stat, df, p = chi_square([g.tokens for g in gens], triples)
        assert p > 1e-3, f"three tokens: chi2={stat:.1f} df={df} p={p:.2e}"

    # Power: the draft's own distribution is far from the target's and the same statistic says so.
    own = AutoregressiveDecoder(draft, eos_token_ids=[eos], max_len=256).sample(
        context, N, max_new_tokens=2, temperature=temperature, generator=torch.Generator().manual_seed(1234)
    )
    stat, df, p = chi_square([g.tokens for g in own], pairs)
    assert p < 1e-6, f"the statistic cannot tell the draft from the target: chi2={stat:.1f} df={df} p={p:.2e}"


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_greedy_output_equals_target_greedy(tiny_pair, tiny_prompts, cache):
    target, draft, tokenizer = tiny_pair
    eos = tokenizer.eos_token_id
    spec = SpeculativeDecoder(target, draft, k=3, eos_token_ids=[eos], cache=cache, max_len=512)
    for prompt in tiny_prompts[:3]:
        ids = torch.tensor([prompt])
        ref = target.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=24,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
        )[0, len(prompt) :].tolist()
        gen = spec.generate(prompt, max_new_tokens=24, temperature=0.0)
        assert gen.tokens == ref
        assert gen.drafted > 0 and gen.target_calls < len(gen.tokens) + 1
        assert all(b in (0.0, 1.0) for b in gen.betas)  # greedy β is argmax agreement
        alone = AutoregressiveDecoder(target, eos_token_ids=[eos], cache=cache, max_len=512)
        assert alone.generate(prompt, max_new_tokens=24, temperature=0.0).tokens == ref


@pytest.mark.slow
def test_compiled_static_cache_keeps_greedy_output(tiny_pair, tiny_prompts):
    """The GPU fast path (static cache + torch.compile of the decode forwards), checked on CPU."""
    target, draft, tokenizer = tiny_pair
    eos = tokenizer.eos_token_id
    prompt = tiny_prompts[0]
    ids = torch.tensor([prompt])
    ref = target.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=16,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
    )[0, len(prompt) :].tolist()
    spec = SpeculativeDecoder(
        target, draft, k=3, eos_token_ids=[eos], cache="static", max_len=256, compile_decode=True
    )
    assert spec.generate(prompt, max_new_tokens=16, temperature=0.0).tokens == ref
    assert spec.generate(prompt, max_new_tokens=16, temperature=0.0).tokens == ref  # reuses the graphs
    # Another draft's weights swapped in: the compiled graphs must read the new weights, not constants.
    other = first_n_layers(target, 2)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.9)
    spec.swap_draft(other)
    eager = SpeculativeDecoder(target, other, k=3, eos_token_ids=[eos], cache="static", max_len=256)
    a = spec.generate(prompt, max_new_tokens=16, temperature=1.0, generator=torch.Generator().manual_seed(5))
    b = eager.generate(prompt, max_new_tokens=16, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert a.tokens == b.tokens and a.betas == pytest.approx(b.betas, abs=1e-4)
