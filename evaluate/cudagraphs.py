"""One CUDA graph per decode shape of a static-cache model, replayed with one host call.

    graphs = DecodeGraphs(compiled_forward, static_cache, decode_mask, set_length)  # as CachedLM does
    logits = graphs.run(tokens, positions, keep, length)   # [keep, V], valid until the next run

torch.compile's own CUDA graphs (mode="reduce-overhead") cost ~0.3 ms of host time per call on an H200
(guards and input-address checks over every parameter), and the sampler calls a forward after every
host sync, so that time is idle device time in every draft and verify phase (benchmarks/README.md,
"Sampler overhead"). Here the compiled forward (inductor kernels, no cudagraphs) is captured once per
(input width, kept logits) into a plain `torch.cuda.CUDAGraph`; a call copies the new token ids and
positions into the graph's input buffers and replays it.

What makes capture valid: the static cache's key/value buffers and its per-layer write positions
(`cumulative_length`, advanced in place by each forward) have fixed addresses, so the recorded kernels
read and write the right tensors on every replay. The warm-up forwards before capture run for real and
advance the write position; `restore(length)` rewinds it (the entries they wrote lie beyond the cached
length: never read, overwritten by the next forward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    tokens: torch.Tensor  # [1, n] input buffer the graph reads
    positions: torch.Tensor  # [1, n]
    logits: torch.Tensor  # [keep, V] output buffer the graph writes


class DecodeGraphs:
    def __init__(
        self, forward: Callable[..., Any], cache: Any, mask: torch.Tensor, restore: Callable[[int], None]
    ):
        self.forward, self.cache, self.mask, self.restore = forward, cache, mask, restore
        self.graphs: dict[tuple[int, int], _Graph] = {}

    def _call(self, tokens: torch.Tensor, positions: torch.Tensor, keep: int) -> torch.Tensor:
        out = self.forward(
            input_ids=tokens,
            position_ids=positions,
            past_key_values=self.cache,
            attention_mask=self.mask,  # fixed buffer: see CachedLM
            use_cache=True,
            logits_to_keep=keep,
        )
        return out.logits[0]

    def _capture(self, tokens: torch.Tensor, positions: torch.Tensor, keep: int, length: int) -> _Graph:
        static_tokens, static_positions = tokens.clone(), positions.clone()
        # Warm-up on a side stream (compiles, initialises cuBLAS/Triton state) as torch.cuda.graphs asks.
        side = torch.cuda.Stream(tokens.device)
        side.wait_stream(torch.cuda.current_stream(tokens.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self._call(static_tokens, static_positions, keep)
                self.restore(length)
        torch.cuda.current_stream(tokens.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = self._call(static_tokens, static_positions, keep)
        return _Graph(graph, static_tokens, static_positions, logits)

    def run(self, tokens: torch.Tensor, positions: torch.Tensor, keep: int, length: int) -> torch.Tensor:
        """Logits of the last `keep` of `tokens` fed after `length` cached tokens. The returned tensor is the
        graph's output buffer: read it (or enqueue what reads it) before the next run of the same shape."""
        key = (tokens.shape[1], keep)
        entry = self.graphs.get(key)
        if entry is None:
            entry = self.graphs[key] = self._capture(tokens, positions, keep, length)
        entry.tokens.copy_(tokens)
        entry.positions.copy_(positions)
        entry.graph.replay()
        return entry.logits
