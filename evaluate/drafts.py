"""Draft models: what a draft folder says about itself, and layer-truncated drafts for benchmarks.

A trained draft folder may carry `tempdraft-draft.json` (written by distill/); we read `name` and
`kd_temperature` when present — the KD temperature is the row of the KD-T × decode-T heatmap.

`save_truncated_draft(target_dir, n, out)` writes the target's first n decoder layers, final norm,
embeddings and lm_head (copied weights, same tokenizer; `distill.models.first_n_layers`) as a draft
folder: an untrained but realistic-cost draft. `noised_draft(target, s)` is the opposite: target cost,
but mid-range acceptance, for checking acceptance predictions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from core.names import DRAFT_CARD_FILE
from core.public import public_path


@dataclass(frozen=True)
class DraftInfo:
    path: str
    name: str
    kd_temperature: float | None = None


def read_draft_info(path: str | Path) -> DraftInfo:
    """Name and KD temperature of a draft; missing card or keys fall back to the folder name / None."""
    folder = Path(path).expanduser()
    name = folder.name or str(path)
    kd_t: float | None = None
    card = folder / DRAFT_CARD_FILE
    if card.is_file():
        data = json.loads(card.read_text())
        name = str(data.get("name") or name)
        raw = data.get("kd_temperature")
        kd_t = float(raw) if isinstance(raw, int | float) else None
    return DraftInfo(path=str(path), name=name, kd_temperature=kd_t)


def noised_draft(target, scale: float, seed: int = 1):
    """A copy of the target with Gaussian noise of `scale` × each tensor's spread added to every weight.

    Same cost as the target, so useless for speed, but its acceptance is tunable (scale 0.5 on the tiny
    test model: α ≈ 0.75 at T = 1): what tests and benchmarks of the acceptance predictions need."""
    import torch

    draft = copy.deepcopy(target)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in draft.parameters():
            p.add_(scale * p.float().std().to(p.dtype) * torch.randn(p.shape, generator=g).to(p))
    return draft.eval()


def save_truncated_draft(
    target_dir: str | Path, num_layers: int, out_dir: str | Path, dtype: str = "auto"
) -> Path:
    """Write a truncated draft folder (weights + tokenizer + card) that `python -m evaluate run` can load."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distill.models import first_n_layers

    target = AutoModelForCausalLM.from_pretrained(target_dir, dtype=dtype)
    out = Path(out_dir)
    first_n_layers(target, num_layers).save_pretrained(out)
    AutoTokenizer.from_pretrained(target_dir).save_pretrained(out)
    (out / DRAFT_CARD_FILE).write_text(
        json.dumps(
            {
                "name": f"{Path(target_dir).name}-first{num_layers}",
                "truncated_from": public_path(str(target_dir)),  # the card travels with the draft
                "num_layers": num_layers,
            },
            indent=2,
        )
    )
    return out
