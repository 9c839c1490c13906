"""evaluate.costprobe: the costs the k: auto choice and the search's prediction divide by.

c·k + verify_cost[k] must be exactly the speculative sampler's own measured step (in target steps), the
probe must get its steps even when the caller's decoder would stop at the first token (EOS), and it must
hand that decoder back unchanged.
"""

from __future__ import annotations

import pytest

from evaluate.costprobe import probe_step_costs
from evaluate.specdec import SpeculativeDecoder


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_costs_add_up_to_the_samplers_step(tiny_pair, tiny_prompts, temperature):
    target, draft, _ = tiny_pair
    probe = probe_step_costs(
        target, draft, tiny_prompts[0], steps=6, verify_ks=[1, 2, 3], temperature=temperature
    )
    assert probe["temperature"] == temperature and probe["c"] > 0 and probe["target_step_s"] > 0
    assert set(probe["verify_cost"]) == set(probe["step_s"]) == {1, 2, 3}
    for k, step_s in probe["step_s"].items():
        assert probe["c"] * k + probe["verify_cost"][k] == pytest.approx(step_s / probe["target_step_s"])
        assert probe["verify_cost"][k] > 0


def test_uses_the_callers_decoder_without_its_eos(tiny_pair, tiny_prompts):
    target, draft, _ = tiny_pair
    vocab = target.get_output_embeddings().weight.shape[0]
    # Every token ends generation: without the probe's own no-EOS run it would time one step per call.
    spec = SpeculativeDecoder(target, draft, 3, eos_token_ids=range(vocab), max_len=256)
    eos_before = spec.eos
    probe = probe_step_costs(target, draft, tiny_prompts[0], steps=6, verify_ks=[2, 3], decoder=spec)
    assert spec.eos == eos_before
    gen = spec.generate(tiny_prompts[0], 16, 0.0)
    assert len(gen.tokens) == 1  # the decoder stops at EOS again
    assert all(s > 0 for s in probe["step_s"].values())


def test_without_verify_ks_c_is_the_draft_step_over_the_target_step(tiny_pair, tiny_prompts):
    target, draft, _ = tiny_pair
    probe = probe_step_costs(target, draft, tiny_prompts[0], steps=4)
    assert probe["c"] == pytest.approx(probe["draft_step_s"] / probe["target_step_s"])
    assert "verify_cost" not in probe


def test_a_k_without_room_for_a_full_step_is_an_error_not_a_zero_cost(tiny_pair, tiny_prompts):
    target, draft, _ = tiny_pair
    prompt = tiny_prompts[0]
    spec = SpeculativeDecoder(target, draft, 3, eos_token_ids=[], max_len=len(prompt) + 8)  # room: 3 tokens
    with pytest.raises(ValueError, match=r"no full step of k = \[3\]"):
        probe_step_costs(target, draft, prompt, steps=6, verify_ks=[3], decoder=spec)
