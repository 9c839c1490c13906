"""Distill under torchrun: DDP, or FSDP for large drafts, over the ranks torchrun starts.

    torchrun --nproc_per_node=8 -m distill train distill/configs/seqkd.yaml \\
        --set run.parallel=ddp --set run.output_dir=drafts/x
    torchrun --nnodes=4 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        -m distill train X.yaml --set run.parallel=ddp --set run.output_dir=/shared/drafts/x
    ... --set run.parallel=fsdp      # shard weights, gradients and optimizer state

`run.parallel` (none | ddp | fsdp) says how the ranks share the draft. Without torchrun (WORLD_SIZE unset
or 1) nothing here is active: one process, whatever `run.parallel` says. NCCL on GPUs
(rank -> cuda:LOCAL_RANK), gloo on CPU. It writes what a one-process run writes; only rank 0 writes.

What changes under torchrun, and why the result is the one-process step:
- data: each optimizer step consumes the same global micro-batches (`optim.batch_size` rows from the
  same seeded order); rank r takes rows r, r+W, r+2W, ... of each, so more ranks = faster, same step;
- gradients: DDP/FSDP average the ranks' gradients, but a rank's loss is its token sum over *its* token
  count. `ParallelDraft.weigh` scales each rank's backward (not its loss value) by W * n_rank / n_step,
  so the averaged gradient is the step's global token mean, exactly as in one process;
- one forward per backward: DDP syncs gradients only for work done inside its forward, and
  `distill.models.response_logits` calls the model's parts (`base_model`, `lm_head`) directly. So the
  whole response-logit computation is the forward of the wrapped module, and `response_logits`, given a
  `ParallelDraft` (a `models.WrappedDraft`), calls it;
- writes: rank 0 writes checkpoints, the draft and the card; under FSDP every rank first takes part in
  gathering the full weights.
FSDP (`torch.distributed.fsdp.fully_shard`, one unit per decoder layer) is for drafts whose weights +
AdamW state do not fit one GPU; resumable checkpoints are DDP-only for now (FSDP would need sharded
`torch.distributed.checkpoint` files), so the config refuses `run.parallel: fsdp` with `run.checkpoint_every`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
import torch.distributed as dist

from core.errors import TempdraftError
from distill.models import WrappedDraft, response_logits

if TYPE_CHECKING:
    from transformers import PreTrainedModel

Mode = Literal["ddp", "fsdp"]


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_torchrun(device: torch.device) -> Ranks | None:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT); None when alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        return None
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":  # one GPU per rank; NCCL needs the device bound before the first collective
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return Ranks(rank, world, device)


def shard(indices: list[int], ranks: Ranks | None) -> list[int]:
    """This rank's rows of one global micro-batch (rank-strided, so every rank gets a share)."""
    return indices if ranks is None else indices[ranks.rank :: ranks.world]


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies by `scale` (see `ParallelDraft.weigh`)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.scale, None


class _ResponseLogits(torch.nn.Module):
    """The draft's response-logit forward as one module: what DDP/FSDP wrap."""

    def __init__(self, draft: torch.nn.Module, vocab: int):
        super().__init__()
        self.draft = draft
        self.vocab = vocab
        self.grad_scale = 1.0

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, target_mask: torch.Tensor
    ) -> torch.Tensor:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "target_mask": target_mask}
        logits = response_logits(self.draft, batch, self.vocab)
        return _ScaleGrad.apply(logits, self.grad_scale) if torch.is_grad_enabled() else logits


class ParallelDraft(WrappedDraft):
    """Stands in for the draft in the trainer: calls go through DDP/FSDP, everything else (config,
    parameters, train/eval, state_dict, generation_config, ...) reaches the draft itself."""

    _own = ("draft", "ranks", "mode", "inner", "module")

    def __init__(self, draft: PreTrainedModel, vocab: int, ranks: Ranks, mode: Mode):
        from torch.nn.parallel import DistributedDataParallel

        self.draft, self.ranks, self.mode = draft, ranks, mode
        self.inner = _ResponseLogits(draft, vocab)
        if mode == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for layer in draft.modules():  # one unit per decoder layer: only one layer is whole at a time
                if type(layer).__name__.endswith("DecoderLayer"):
                    fully_shard(layer)
            fully_shard(self.inner)  # in place: the module stays a Module, its parameters become shards
            self.module: torch.nn.Module = self.inner
        else:  # DDP broadcasts rank 0's weights at construction: every rank starts identical
            ids = [ranks.device.index] if ranks.device.type == "cuda" else None
            self.module = DistributedDataParallel(self.inner, device_ids=ids)

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module(batch["input_ids"], batch["attention_mask"], batch["target_mask"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.draft, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:  # e.g. the trainer's `draft.generation_config = ...` must reach the saved model
            setattr(self.draft, name, value)

    def weigh(self, micro: list[dict[str, torch.Tensor]]) -> None:
        """Before each optimizer step: scale this rank's backward by W * n_rank / n_step (target tokens)."""
        counts = torch.tensor(
            [float(sum(int(b["target_mask"].sum()) for b in micro))], device=self.ranks.device
        )
        total = counts.clone()
        dist.all_reduce(total)
        self.inner.grad_scale = float(self.ranks.world * counts / total.clamp(min=1))

    def save_pretrained(self, out: Path, dtype: torch.dtype | None = None, **kwargs: Any) -> None:
        """Rank 0 writes the full draft (in `dtype`); under FSDP every rank first helps gather it."""
        state = None
        if self.mode == "ddp" and dtype is not None:
            self.draft.to(dtype)  # training is over: DDP's buckets are not used again
        if self.mode == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            # Every rank takes part; with cpu_offload only rank 0 receives the full tensors.
            full = get_model_state_dict(
                self.inner, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
            )
            state = {k.removeprefix("draft."): v.to(dtype or v.dtype) for k, v in full.items()}
            if self.ranks.is_main:
                # Gathered copies of tied weights (embeddings = lm_head) are separate tensors; make them
                # one again so save_pretrained stores them once, as a one-process run does.
                first: dict[int, str] = {}
                for key, value in self.draft.state_dict(keep_vars=True).items():
                    state[key] = state[first.setdefault(id(value), key)]
        if self.ranks.is_main:
            self.draft.save_pretrained(out, state_dict=state, **kwargs)
            if state is not None and dtype is not None:  # save_pretrained took the dtype of the fp32 shards
                self.draft.config.dtype = str(dtype).removeprefix("torch.")
                self.draft.config.save_pretrained(out)
        dist.barrier()


def wrap(draft: torch.nn.Module, vocab: int, ranks: Ranks, mode: str, batch_size: int) -> ParallelDraft:
    """The trainer's one call: check the run fits `mode` (`run.parallel`), then wrap the draft (before the
    optimizer is built: FSDP replaces the parameters with sharded ones)."""
    if mode not in ("ddp", "fsdp"):
        raise TempdraftError(
            f"run.parallel: launched by torchrun with {ranks.world} ranks, but run.parallel is {mode!r}; "
            "set --set run.parallel=ddp (or fsdp for drafts beyond one GPU)"
        )
    if batch_size < ranks.world:
        raise TempdraftError(
            f"optim.batch_size={batch_size} is split across {ranks.world} ranks: give every "
            "rank at least one row"
        )
    return ParallelDraft(cast("PreTrainedModel", draft), vocab, ranks, cast(Mode, mode))


def close(ranks: Ranks | None) -> None:
    if ranks is not None and dist.is_initialized():
        dist.barrier()  # no rank leaves while rank 0 is still writing
        dist.destroy_process_group()
