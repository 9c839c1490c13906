"""SpeculativeDecoder.swap_draft: a new draft's weights copied into the decoder's own draft tensors.

The study compares ~30 drafts of one architecture with compiled decoders; swapping weights in place keeps
the compiled graphs valid. These tests check the swap gives exactly what a fresh decoder gives, that it
keeps every parameter's storage (what CUDA graphs replay from), and that the model the caller passed at
construction never changes (the decoder copies it).
"""

from __future__ import annotations

import copy

import pytest
import torch

from distill.models import first_n_layers
from evaluate.specdec import SpeculativeDecoder


def _other_draft(draft):
    """Same architecture, different weights (as a second trained draft would be)."""
    other = copy.deepcopy(draft)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return other


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_swapped_decoder_samples_like_a_fresh_one(tiny_pair, tiny_prompts, cache):
    target, draft, tokenizer = tiny_pair
    eos = [tokenizer.eos_token_id]
    slot, other = copy.deepcopy(draft), _other_draft(draft)
    swapped = SpeculativeDecoder(target, slot, k=3, eos_token_ids=eos, cache=cache, max_len=512)
    swapped.generate(tiny_prompts[0], max_new_tokens=8, temperature=1.0)  # leave state behind
    owned = swapped.draft.model
    ptrs = [p.data_ptr() for p in owned.parameters()]
    swapped.swap_draft(other)
    assert [p.data_ptr() for p in owned.parameters()] == ptrs
    # The decoder swapped its own copy: the model the caller passed in is untouched (issue 17 item 6).
    assert owned is not slot
    for mine, theirs in zip(slot.state_dict().values(), draft.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs)
    fresh = SpeculativeDecoder(target, other, k=3, eos_token_ids=eos, cache=cache, max_len=512)
    for prompt in tiny_prompts[1:4]:
        a = swapped.generate(prompt, 24, 0.8, generator=torch.Generator().manual_seed(3))
        b = fresh.generate(prompt, 24, 0.8, generator=torch.Generator().manual_seed(3))
        assert a.tokens == b.tokens
        assert a.betas == pytest.approx(b.betas, abs=1e-6)
    # The swap changed what the decoder does: the original draft's β's differ on the same prompt.
    original = SpeculativeDecoder(target, draft, k=3, eos_token_ids=eos, cache=cache, max_len=512)
    c = original.generate(tiny_prompts[1], 24, 0.8, generator=torch.Generator().manual_seed(3))
    d = swapped.generate(tiny_prompts[1], 24, 0.8, generator=torch.Generator().manual_seed(3))
    assert c.betas != pytest.approx(d.betas, abs=1e-6)


def test_swap_refuses_another_architecture(tiny_pair):
    target, draft, tokenizer = tiny_pair
    spec = SpeculativeDecoder(target, copy.deepcopy(draft), k=2, eos_token_ids=[tokenizer.eos_token_id])
    assert spec.accepts_draft(_other_draft(draft)) and not spec.accepts_draft(first_n_layers(target, 3))
    with pytest.raises(ValueError, match="architectures differ"):
        spec.swap_draft(first_n_layers(target, 3))
