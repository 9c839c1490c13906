"""evaluate.cudagraphs on a GPU: the replayed decode forward gives the eager forward's logits.

Run on a CUDA machine: `python -m pytest -m gpu tests/evaluate/test_cudagraphs.py` (CI has no GPU; the
same check runs in benchmarks/bench_sampler_overhead.py and agreed to 8.9e-7 on an H200; this test itself
has not run on a GPU yet: the session's GPU time was spent). Covers a new
graph per width, the static cache's write position advancing inside the graph, and rollback.
"""

from __future__ import annotations

import copy

import pytest
import torch

from evaluate.kvcache import CachedLM

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_graph_replay_matches_eager_decode(tiny_pair, tiny_prompts):
    model = copy.deepcopy(tiny_pair[0]).float().cuda()
    prompt = torch.tensor([tiny_prompts[0]], device="cuda")
    steps = 24
    eager, graphed = (
        CachedLM(model, "static", prompt.shape[1] + steps + 8, compile_decode=c) for c in (False, True)
    )
    for lm in (eager, graphed):
        lm.forward(prompt[:, :-1], prefill=True)
    assert graphed._graphs is not None
    tok = prompt[:, -1:]
    for i in range(steps):
        width = 2 if i % 5 == 4 else 1  # a second decode shape, as the sampler's pending tokens make
        feed = torch.cat([tok] * width, dim=1)
        a, b = eager.forward(feed, keep=width), graphed.forward(feed, keep=width)
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
        tok = a[-1:].argmax(-1, keepdim=True)
        if i == steps // 2:
            for lm in (eager, graphed):
                lm.rollback(lm.length - 3)
    assert graphed.length == eager.length
    assert {key[0] for key in graphed._graphs.graphs} == {1, 2}
