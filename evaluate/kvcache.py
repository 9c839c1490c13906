"""One causal LM at batch size 1 with a KV cache that can be rolled back after rejected drafts.

- `dynamic`: transformers `DynamicCache`; rollback crops the tensors (cheap views). Best on CPU.
- `static`: transformers `StaticCache`, allocated once and reused across prompts; rollback only moves
  the write position back. Stale entries beyond it are never read: every query at position i is causally
  masked to keys ≤ i, and the next forward overwrites them. Fixed shapes let `torch.compile` compile the
  decode forwards, and on GPU evaluate.cudagraphs captures each decode shape in one CUDA graph.

Positions are passed explicitly from a preallocated arange so no step allocates a position tensor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch

from evaluate.cudagraphs import DecodeGraphs

if TYPE_CHECKING:  # annotations only: importing transformers is slow
    from transformers import PreTrainedModel

CacheKind = Literal["dynamic", "static"]


class CachedLM:
    def __init__(
        self,
        model: PreTrainedModel,
        cache: CacheKind = "dynamic",
        max_len: int = 2048,
        compile_decode: bool = False,
    ):
        self.model = model
        self.device = next(model.parameters()).device
        self.kind: CacheKind = cache
        self.compiled = compile_decode
        self.max_len = max_len
        self.length = 0  # tokens held in the cache (our mirror, so rollback needs no device sync)
        self._positions = torch.arange(max_len, device=self.device).unsqueeze(0)
        self._pos_bufs: dict[
            int, torch.Tensor
        ] = {}  # one fixed input buffer per decode width (compile-friendly)
        self._cache: Any = self._new_cache() if cache == "static" else None
        # Static-cache decode forwards get an all-ones padding mask over the whole cache (causal masking still
        # hides every key past the query): without one, transformers 5.19 decides whether the mask can be
        # skipped from the cache's write position, a tensor - a graph break and a host sync at widths >= 2.
        self._decode_mask = torch.ones((1, max_len), dtype=torch.long, device=self.device)
        # Prefill has a new shape per prompt and stays eager; only the fixed-shape decode calls compile.
        self._decode = model.forward
        self._graphs: DecodeGraphs | None = None
        if compile_decode:
            _raise_recompile_limits()
            if self.device.type == "cuda" and cache == "static":  # inductor kernels in our own CUDA graphs
                # A graph break that syncs would fail the capture; the decode mask above removes the one
                # known (transformers 5.19). fullgraph stays off: the H200 runs (torch 2.11, transformers
                # 5.17) were measured this way, and a harmless break should not stop a sweep.
                self._decode = torch.compile(model.forward, dynamic=False, fullgraph=False)
                self._graphs = DecodeGraphs(self._decode, self._cache, self._decode_mask, self._set_length)
            else:
                mode = "reduce-overhead" if self.device.type == "cuda" else "default"
                self._decode = torch.compile(model.forward, mode=mode, dynamic=False, fullgraph=False)

    def _new_cache(self):
        from transformers import DynamicCache, StaticCache

        if self.kind == "static":
            return StaticCache(config=self.model.config, max_cache_len=self.max_len)
        return DynamicCache(config=self.model.config)

    def reset(self) -> None:
        """Start a new sequence: a fresh dynamic cache, or the same static buffers rewound to 0."""
        if self.kind == "static":
            self.rollback(0)
        else:
            self._cache = self._new_cache()
        self.length = 0

    def rollback(self, length: int) -> None:
        """Forget every cached token at index ≥ `length`."""
        if length > self.length:
            raise ValueError(f"cannot roll back to {length}: the cache holds {self.length} tokens")
        if self.kind == "static":
            self._set_length(length)
        elif length < self.length:
            self._cache.crop(length - self.length)  # a negative argument removes that many tokens
        self.length = length

    def _set_length(self, length: int) -> None:
        """Move the static cache's write position (every layer's `cumulative_length`) to `length`."""
        # The layers allocate their buffers inside the first (inference-mode) forward; in-place updates
        # of inference tensors are only allowed in inference mode (transformers 5.17 on the H100 raised).
        # Two fused launches for all layers instead of one fill per layer (30 for the SmolLM2 target):
        # on a GPU each launch is a few microseconds of idle device between the sampler's steps.
        lengths = [layer.cumulative_length for layer in self._cache.layers if layer.is_initialized]
        if lengths:
            with torch.inference_mode():
                torch._foreach_mul_(lengths, 0)
                torch._foreach_add_(lengths, length)

    @torch.inference_mode()
    def forward(self, tokens: torch.Tensor, keep: int = 1, prefill: bool = False) -> torch.Tensor:
        """Feed `tokens` ([1, n]) after the cached ones; return the last `keep` rows of logits ([keep, V])."""
        n = tokens.shape[1]
        if self.length + n > self.max_len:
            raise ValueError(f"sequence of {self.length + n} tokens exceeds the cache size {self.max_len}")
        positions = self._positions[:, self.length : self.length + n]
        fn = self.model.forward
        if not prefill:
            fn = self._decode
            if n not in self._pos_bufs:
                self._pos_bufs[n] = torch.empty((1, n), dtype=torch.long, device=self.device)
            positions = self._pos_bufs[n].copy_(positions)
            if self._graphs is not None:
                logits = self._graphs.run(tokens, positions, keep, self.length)
                self.length += n
                return logits
        mask = {"attention_mask": self._decode_mask} if self.kind == "static" and not prefill else {}
        out = fn(
            input_ids=tokens,
            position_ids=positions,
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=keep,
            **mask,
        )
        self.length += n
        return out.logits[0]


def _raise_recompile_limits() -> None:
    """Room for every decode shape of a target and its drafts (one graph each; they share one forward
    code object, and dynamo's default of 8 entries per code object would silently fall back to eager)."""
    import torch._dynamo as dynamo  # `as`: a bare import would bind `torch` locally

    dynamo.config.cache_size_limit = max(dynamo.config.cache_size_limit, 64)
    dynamo.config.accumulated_cache_size_limit = max(dynamo.config.accumulated_cache_size_limit, 512)
