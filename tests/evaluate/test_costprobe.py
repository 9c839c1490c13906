"""evaluate.costprobe: the costs the k: auto choice and the search's prediction divide by.

c·k + verify_cost[k] must be exactly the speculative sampler's own measured step (in target steps), the
probe must get its steps even when the caller's decoder would stop at the first token (EOS), and it must
hand that decoder back unchanged. Each quantity is the median of its timed rounds, so one slow round (a
busy host) does not move it.
"""

from __future__ import annotations

import pytest

from evaluate.costprobe import combine, probe_step_costs
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_costs_add_up_to_the_samplers_step(tiny_pair, tiny_prompts, temperature):
    target, draft, _ = tiny_pair
    probe = probe_step_costs(
        target, draft, tiny_prompts[0], steps=6, verify_ks=[1, 2, 3], temperature=temperature
    )
    assert probe["temperature"] == temperature and probe["c"] > 0 and probe["target_step_s"] > 0
    assert set(probe["verify_cost"]) == set(probe["step_s"]) == set(probe["spread"]) == {1, 2, 3}
    assert probe["rounds"] == 5 and all(s >= 0 for s in probe["spread"].values())
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


def test_the_unit_is_the_callers_target_alone_decoder(tiny_pair, tiny_prompts):
    """evaluate run prices k in steps of the decoder its baseline runs on: the probe times that decoder
    (without its EOS, within its cache's room: 4 steps here, not 6) and hands it back unchanged."""
    target, draft, _ = tiny_pair
    vocab = target.get_output_embeddings().weight.shape[0]
    prompt = tiny_prompts[0]
    alone = AutoregressiveDecoder(target, eos_token_ids=range(vocab), max_len=len(prompt) + 5)
    lengths: list[int] = []
    real = alone.generate
    alone.generate = lambda p, n, *a, **kw: lengths.append(n) or real(p, n, *a, **kw)
    probe = probe_step_costs(target, draft, prompt, steps=6, verify_ks=[1, 2], rounds=2, alone=alone)
    assert lengths == [2, 4, 4]  # one warm-up (eager), then one timed run per round
    assert probe["target_step_s"] > 0 and set(probe["verify_cost"]) == {1, 2}
    del alone.generate
    assert len(alone.generate(prompt, 4, 0.0).tokens) == 1  # its EOS is back


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


def test_the_median_round_prices_and_one_slow_round_moves_nothing():
    """Rounds as (target step s, c, each k's step in target steps); round 3 ran on a busy host: its target
    step is 3x slower and its k = 2 step 2x. The probe is the median round's values, its invariant holds,
    and `spread` reports the slow round."""
    rounds = [
        (0.010, 0.20, {1: 1.50, 2: 1.80}),
        (0.011, 0.21, {1: 1.52, 2: 1.82}),
        (0.030, 0.40, {1: 1.51, 2: 3.60}),
        (0.009, 0.19, {1: 1.49, 2: 1.78}),
        (0.010, 0.20, {1: 1.50, 2: 1.81}),
    ]
    probe = combine(rounds)
    assert probe["rounds"] == 5 and probe["target_step_s"] == 0.010 and probe["c"] == 0.20
    assert probe["verify_cost"] == pytest.approx({1: 1.50 - 0.20, 2: 1.81 - 0.40})
    for k in (1, 2):
        assert probe["c"] * k + probe["verify_cost"][k] == pytest.approx(probe["step_s"][k] / 0.010)
    assert probe["spread"][2] == pytest.approx((3.60 - 1.78) / 1.81) and probe["spread"][1] < 0.03


@pytest.mark.parametrize("verify_ks", [(), (1, 2)], ids=["c alone", "sampler"])
def test_each_round_times_the_target_and_the_draft_again(tiny_pair, tiny_prompts, verify_ks):
    """forward calls(rounds) = warm-up + rounds x one round's calls, for the target and for the draft: every
    round times both again (a probe that timed once and reused it would add no calls). Counted at the
    output heads: the decoders call `forward` directly, which module hooks do not see."""
    target, draft, _ = tiny_pair
    prompt = tiny_prompts[0]
    spec = (
        SpeculativeDecoder(target, draft, 2, eos_token_ids=[], max_len=len(prompt) + 32)
        if verify_ks
        else None
    )
    timed_draft = spec.draft.model if spec else draft  # the sampler decodes with its own copy of the draft
    calls = {"target": 0, "draft": 0}
    hooks = [
        m.get_output_embeddings().register_forward_pre_hook(
            lambda *_, n=n: calls.__setitem__(n, calls[n] + 1)
        )
        for n, m in (("target", target), ("draft", timed_draft))
    ]
    seen = []
    try:
        for rounds in (1, 2, 3):
            calls.update(target=0, draft=0)
            probe = probe_step_costs(
                target, draft, prompt, steps=4, verify_ks=verify_ks, decoder=spec, rounds=rounds
            )
            assert probe["rounds"] == rounds
            seen.append(dict(calls))
    finally:
        for h in hooks:
            h.remove()
    for who in ("target", "draft"):
        per_round = seen[1][who] - seen[0][who]
        assert per_round > 0 and seen[2][who] - seen[1][who] == per_round, (who, seen)
    with pytest.raises(ValueError, match="rounds"):
        probe_step_costs(target, draft, prompt, steps=4, rounds=0)
