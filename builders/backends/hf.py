"""transformers backend: batched, left-padded `generate` with a per-row temperature and per-row seed.

`generate` cannot sample each row at its own temperature with its own random generator, so the
sampling step lives in a logits processor: it draws each row's token (argmax for T = 0; inverse-CDF
with a per-request `torch.Generator` otherwise), records the optional top-k log-probs after
temperature, and hands `generate` a one-hot score row, which `generate`'s greedy step then selects.
Everything else (KV cache, padding, stopping on EOS) is `generate`'s own machinery, and a batch
stays full whatever mix of temperatures it holds.
"""

from __future__ import annotations


import torch

from builders.backends.base import ProgressFn, SampleRequest, SampleResult


class PerRowSampler:
    """A `LogitsProcessor`: one temperature, top-p and generator per row; greedy rows stay exact argmax."""

    def __init__(self, requests: list[SampleRequest], device: torch.device, topk: int):
        self.temperature = torch.tensor([r.temperature for r in requests], dtype=torch.float32, device=device)
        self.top_p = torch.tensor([r.top_p for r in requests], dtype=torch.float32, device=device)
        self.greedy = self.temperature == 0
        self.generators = [torch.Generator(device="cpu").manual_seed(r.seed) for r in requests]
        self.topk = topk
        self.topk_ids: list[torch.Tensor] = []
        self.topk_logprobs: list[torch.Tensor] = []

    def _processed_logits(self, scores: torch.Tensor) -> torch.Tensor:
        # Greedy rows keep their raw logits (temperature 1) for the stored log-probs.
        temp = torch.where(self.greedy, torch.ones_like(self.temperature), self.temperature)
        logits = scores / temp[:, None]
        if bool((self.top_p < 1).any()):
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            drop_sorted = (cum - sorted_logits.softmax(-1)) > self.top_p[:, None]  # keep the token crossing top_p
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            logits = logits.masked_fill(drop & ~self.greedy[:, None], float("-inf"))
        return logits

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logits = self._processed_logits(scores.float())
        # One uniform per row from its own generator: the draw does not depend on batch neighbours.
        u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in self.generators]).to(scores.device)
        cdf = logits.softmax(-1).double().cumsum(-1)
        sampled = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None]).clamp_(max=scores.shape[-1] - 1).squeeze(-1)
        chosen = torch.where(self.greedy, scores.argmax(-1), sampled)
        if self.topk:
            vals, ids = logits.log_softmax(-1).topk(self.topk, dim=-1)
            self.topk_ids.append(ids.cpu())
            self.topk_logprobs.append(vals.cpu())
        forced = torch.full_like(scores, float("-inf"))
        return forced.scatter_(-1, chosen[:, None], 0.0)


class TransformersBackend:
    name = "transformers"

    def __init__(self, model_path: str, dtype: str = "bfloat16", batch_size: int = 64, device: str | None = None,
                 stop_ids: list[int] | None = None, pad_id: int | None = None):
        from transformers import AutoModelForCausalLM

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype)).to(self.device).eval()
        self.batch_size = batch_size
        self.stop_ids = stop_ids or []
        self.pad_id = pad_id if pad_id is not None else (self.stop_ids[0] if self.stop_ids else 0)

    def version(self) -> str:
        import transformers

        return f"transformers=={transformers.__version__}"

    def logprobs_mode(self) -> str:
        return "processed_logprobs"  # after temperature and top-p, as vLLM's mode of that name

    def close(self) -> None:
        del self.model

    def generate(self, requests: list[SampleRequest], progress: ProgressFn | None = None) -> list[SampleResult]:
        # Longest prompts first: batches group similar lengths (less padding), and the order is a pure
        # function of the requests, so a shard always forms the same batches (bf16 results depend on it).
        order = sorted(range(len(requests)), key=lambda i: (-len(requests[i].prompt_token_ids), requests[i].request_id))
        results: dict[str, SampleResult] = {}
        for start in range(0, len(order), self.batch_size):
            batch = [requests[i] for i in order[start : start + self.batch_size]]
            for res in self._generate_batch(batch):
                results[res.request_id] = res
            if progress:
                progress(len(batch), sum(len(results[r.request_id].token_ids) for r in batch))
        return [results[r.request_id] for r in requests]

    @torch.inference_mode()
    def _generate_batch(self, batch: list[SampleRequest]) -> list[SampleResult]:
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(r.prompt_token_ids) for r in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):  # left padding: every row's next token sits in the last column
            ids[i, width - len(r.prompt_token_ids) :] = torch.tensor(r.prompt_token_ids)
            mask[i, width - len(r.prompt_token_ids) :] = 1
        topk = max(r.topk_logprobs for r in batch)
        sampler = PerRowSampler(batch, self.device, topk)
        config = GenerationConfig(
            max_new_tokens=max(r.max_new_tokens for r in batch), do_sample=False,
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id,
        )
        out = self.model.generate(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), generation_config=config,
            logits_processor=LogitsProcessorList([sampler]),
        )
        new_tokens = out[:, width:].cpu().tolist()
        results = []
        for i, r in enumerate(batch):
            tokens, finish = self._cut(new_tokens[i], r.max_new_tokens)
            res = SampleResult(r.request_id, tokens, finish)
            if topk:
                n = len(tokens)
                res.topk_token_ids = [sampler.topk_ids[s][i, : r.topk_logprobs].tolist() for s in range(n)]
                res.topk_logprobs = [sampler.topk_logprobs[s][i, : r.topk_logprobs].tolist() for s in range(n)]
            results.append(res)
        return results

    def _cut(self, tokens: list[int], max_new_tokens: int) -> tuple[list[int], str]:
        for j, t in enumerate(tokens[:max_new_tokens]):
            if t in self.stop_ids:
                return tokens[: j + 1], "stop"
        return tokens[:max_new_tokens], "length"
