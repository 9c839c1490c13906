"""Teacher loading, draft initialisation, the vocabulary check, and logits at response positions only.

Draft initialisations (see `distill.config`):
- `pretrained`: any `from_pretrained` model (Hub id or folder) whose tokenizer equals the teacher's;
- `first_n_layers`: the teacher's config cut to N layers; embeddings, layers 0..N-1, final norm and
  lm_head copied from the teacher (a strong start: the draft begins as an early-exit teacher);
- `small_config`: a fresh model of the teacher's architecture with a smaller config; the teacher's
  embeddings are copied (hidden size equal) or projected onto their top principal directions
  (narrower), so the draft starts with the teacher's token geometry instead of noise.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import torch

from core.errors import TempdraftError


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise TempdraftError("run.device is 'cuda' but no CUDA device is available")
    return torch.device(device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPU by default; fp32 on CPU (bf16 only when asked)."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """The same identity the builder writes into `manifest.json["tokenizer"]`."""
    template = tokenizer.chat_template or ""
    if isinstance(template, dict):  # a few tokenizers carry several named templates
        template = template.get("default", "")
    return {
        "vocab_size": len(tokenizer),
        "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
    }


def vocab_problem(teacher_tok: Any, draft_tok: Any, what: str) -> str | None:
    """None when both tokenizers map every token to the same id; else a readable description."""
    tv, dv = teacher_tok.get_vocab(), draft_tok.get_vocab()
    if tv == dv:
        return None
    differing = sorted(t for t in set(tv) | set(dv) if tv.get(t) != dv.get(t))
    shown = ", ".join(f"{t!r}: teacher {tv.get(t)} / draft {dv.get(t)}" for t in differing[:3])
    return (
        f"{what}'s vocabulary does not match the teacher's ({len(dv)} vs {len(tv)} tokens, "
        f"{len(differing)} differ, e.g. {shown}); a draft must share the teacher's tokenizer"
    )


def load_teacher(path: str, device: torch.device, dtype: torch.dtype | str = "auto") -> torch.nn.Module:
    """The frozen teacher; dtype "auto" keeps the checkpoint's dtype (derived drafts copy exact weights)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    model.requires_grad_(False)
    return model


def first_n_layers(model: torch.nn.Module, n: int, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """A new model holding copies of `model`'s embeddings, first `n` decoder layers, final norm and lm_head
    (same tokenizer; `model` is untouched), in eval mode, in `dtype` (None: the model's), on its device.
    The one layer-truncation helper: distill's `first_n_layers` draft init and evaluate's untrained but
    realistic-cost drafts."""
    from transformers import AutoModelForCausalLM

    layers = model.config.num_hidden_layers
    if not 0 < n <= layers:
        raise TempdraftError(f"draft.num_layers {n}: keep 1 to {layers}, the model's decoder layers")
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = n
    if getattr(config, "layer_types", None):  # per-layer attention kinds (sliding/full) follow the cut
        config.layer_types = config.layer_types[:n]
    draft = AutoModelForCausalLM.from_config(config, dtype=dtype or model.dtype).to(model.device)
    missing, _ = draft.load_state_dict(model.state_dict(), strict=False)  # layers >= n are "unexpected"
    tied = set(getattr(draft, "_tied_weights_keys", None) or ())  # a tied lm_head has no weights of its own
    missing = [k for k in missing if k not in tied]
    if missing:
        raise TempdraftError(f"cannot derive a draft from the teacher: weights missing for {missing[:5]}")
    draft.generation_config = copy.deepcopy(model.generation_config)
    return draft.eval()


def _top_components(weight: torch.Tensor, width: int) -> torch.Tensor:
    """(V, H) -> (V, width): the rows expressed in their top-`width` principal directions (via SVD)."""
    _, _, vh = torch.linalg.svd(weight.float(), full_matrices=False)
    return weight.float() @ vh[:width].T


def _small_config(teacher: torch.nn.Module, spec: Any) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    tc = teacher.config
    config = copy.deepcopy(tc)
    hidden = spec.hidden_size or tc.hidden_size
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    heads = spec.num_attention_heads or max(1, hidden // head_dim)
    config.hidden_size = hidden
    config.num_hidden_layers = spec.num_layers
    config.num_attention_heads = heads
    config.num_key_value_heads = spec.num_key_value_heads or heads
    config.head_dim = hidden // heads
    config.intermediate_size = spec.intermediate_size or round(tc.intermediate_size * hidden / tc.hidden_size)
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[: spec.num_layers]
    draft = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        t_in, d_in = teacher.get_input_embeddings().weight, draft.get_input_embeddings().weight
        d_in.copy_(t_in.float() if hidden == tc.hidden_size else _top_components(t_in, hidden))
        t_out, d_out = teacher.get_output_embeddings(), draft.get_output_embeddings()
        if d_out is not None and d_out.weight is not d_in:  # untied head: same treatment, its own basis
            d_out.weight.copy_(
                t_out.weight.float() if hidden == tc.hidden_size else _top_components(t_out.weight, hidden)
            )
    return draft


def build_draft(spec: Any, teacher: torch.nn.Module | None, seed: int) -> torch.nn.Module:
    """The fp32 draft described by `spec` (a `distill.config.DraftSpec`); derived drafts copy `teacher`."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)  # fresh layers of small_config drafts are a function of run.seed
    if spec.init == "pretrained":
        try:
            return AutoModelForCausalLM.from_pretrained(
                spec.model, revision=spec.revision, dtype=torch.float32
            )
        except OSError as e:
            raise TempdraftError(f"cannot load draft {spec.model!r}: {str(e)[:300]}") from None
    assert teacher is not None
    if spec.init == "first_n_layers":
        return first_n_layers(teacher, spec.num_layers, torch.float32)
    return _small_config(teacher, spec)


def response_hidden(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The final hidden states at the batch's target positions, (N, hidden): what the lm_head projects."""
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return hidden.last_hidden_state[batch["target_mask"]]


def plain_head(config: Any) -> bool:
    """True when logits = lm_head(hidden) exactly (no soft-capping or logit scaling to re-apply)."""
    return not any(
        getattr(config, k, None) not in (None, 1, 1.0)
        for k in ("final_logit_softcapping", "logits_scaling", "logit_scale", "output_multiplier_scale")
    )


class WrappedDraft:
    """A draft whose call *is* the response-logit computation: distill/distributed.py's `ParallelDraft`,
    where DDP/FSDP wrap that whole computation so that their forward sees every parameter it uses."""

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


def response_logits(
    model: torch.nn.Module | WrappedDraft, batch: dict[str, torch.Tensor], vocab: int
) -> torch.Tensor:
    """Logits at the batch's target positions only, (N, vocab).

    The lm_head is the largest matrix of a small draft (49k x 576 for SmolLM2) and prompts are ~40%
    of the tokens: projecting only the response positions saves that share of the head's work in
    every mode. Models with logit post-processing take the plain full forward instead.
    """
    if isinstance(model, WrappedDraft):  # under torchrun: this same function, inside DDP/FSDP's forward
        return model(batch)
    mask = batch["target_mask"]
    if plain_head(model.config):
        logits = model.get_output_embeddings()(response_hidden(model, batch))
    else:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[mask]
    # Widths may differ when teacher and draft pad their vocab differently (e.g. Qwen 0.5B vs 7B);
    # the ids past the tokenizer's are never produced, so both sides are compared on the shared ids.
    return logits[:, :vocab]
