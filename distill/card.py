"""The draft's card: `tempdraft-draft.json` (read by `evaluate/`) rendered again as README.md.

Keys other components rely on:
- `name`: the draft's display name in comparisons;
- `kd_temperature`: the dataset's generation temperature when the training rows have exactly one,
  else null (a mixture) - the KD-T axis of the KD-T x decode-T heatmap.
- `training`: `steps` taken of the `max_steps` budget; `stopped_early`; `best_step` (the best held-out
  evaluation; with early stopping its weights are the ones saved, `weights_step`); `still_improving`
  (true: the budget ended a draft that was still getting better - see `distill.convergence`; null:
  no intermediate evaluations); `final_loss`, the mean training loss over `final_loss_steps`, the
  window the last progress line printed; `save_dtype` of the saved weights.
- `eval`: `curve`, the held-out learning curve `[{step, loss, acceptance: {T: alpha}}]` (also drawn
  as `learning_curve.png`); `before` (step 0) and `after` (the saved weights) are two of its points.

Both files are pushed with the draft, so they hold ids, revisions and content hashes, never a local path
(`core.public`). README.md's front matter is the Hub's model-card metadata (`hub` below):
- `base_model`: the Hub model the weights start from: `draft.model` for a pretrained draft, else the
  teacher (its layers or its outputs); omitted for a local teacher with no Hub id;
- `datasets`: the dataset's Hub id (given as one, or the catalog's record of where it was pushed);
- `license`: the teacher's when known (`registry.licenses.KNOWN`; a pretrained draft's must agree),
  else 'other'.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from core.names import DRAFT_CARD_FILE as CARD_FILE
from core.provenance import versions
from core.public import public_command, public_path, public_values
from distill.plot import PLOT_FILE
from registry.catalog import now
from registry.licenses import KNOWN, UNKNOWN


def _versions() -> dict[str, str]:
    return {**versions(("tempdraft", "torch", "transformers")), "python": platform.python_version()}


def build_card(
    *, name: str, setup: Any, draft_init: dict[str, Any], result: dict[str, Any], command: str
) -> dict[str, Any]:
    cfg, manifest = setup.config, setup.manifest
    temps = setup.temperatures
    teacher = setup.teacher.public_dict()
    loss_t = cfg.loss.resolved_temperature()
    if cfg.loss.mode == "topk" and loss_t is None:  # the stored temperature(s): greedy rows are at 1.0
        stored = sorted({t if t > 0 else 1.0 for t in temps})
        loss_t = stored[0] if len(stored) == 1 else None
    return {
        "format": "tempdraft-draft/1",
        "name": name,
        "kd_temperature": temps[0] if len(temps) == 1 else None,
        "dataset": {
            "id": public_path(cfg.dataset.id),
            "name": manifest.name,
            "version": setup.version or (manifest.model_extra or {}).get("version"),
            "fingerprint": manifest.fingerprint,
            "config": cfg.dataset.config,
            "split": cfg.dataset.split,
            "generation_temperatures": temps,
            "manifest_temperatures": manifest.temperatures,
            "rows": setup.num_rows,
        },
        "teacher": teacher,
        "draft_init": public_values(draft_init),
        "hub": hub_metadata(cfg.dataset.id, setup.version, teacher, draft_init),
        "mode": cfg.loss.mode,
        "divergence": None if cfg.loss.mode == "seqkd" else cfg.loss.divergence,
        "beta": cfg.loss.beta if cfg.loss.mode != "seqkd" and cfg.loss.divergence == "jsd" else None,
        "loss_temperature": loss_t,
        **result,
        "command": public_command(command),
        "config": public_values(cfg.model_dump(mode="json")),
        "versions": _versions(),
        "created_at": now(),
    }


def _hub_dataset(dataset_id: str, version: str | None) -> str | None:
    """The dataset's Hub repo id: the id itself when it is one, else where the catalog says it was pushed."""
    from registry.hub import REPO_ID_RE

    repo = dataset_id.partition("@")[0]
    if REPO_ID_RE.match(repo) and not Path(dataset_id).expanduser().exists():
        return repo
    name, _, v = (version or "").partition("@v")
    try:
        from registry.catalog import Catalog

        remotes = Catalog().remotes_of(name, int(v)) if v.isdigit() else []
    except Exception:  # no catalog: the card simply names no Hub dataset
        return None
    return remotes[-1].repo_id if remotes else None


def hub_metadata(
    dataset_id: str, version: str | None, teacher: dict[str, Any], draft_init: dict[str, Any]
) -> dict[str, Any]:
    """README.md's `license`, `base_model`, `datasets` (the last two only when a Hub id is known)."""
    pretrained = draft_init.get("init") == "pretrained"
    draft_model = str(draft_init.get("model") or "")
    base = (
        draft_model if pretrained and not Path(draft_model).expanduser().exists() else teacher.get("hub_id")
    )
    license = KNOWN.get(str(teacher.get("hub_id") or teacher.get("name")), UNKNOWN)
    if pretrained and KNOWN.get(draft_model) != license:
        license = UNKNOWN
    dataset = _hub_dataset(dataset_id, version)
    out: dict[str, Any] = {"license": license, "base_model": base, "datasets": [dataset] if dataset else None}
    return {k: v for k, v in out.items() if v}


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _convergence(tr: dict[str, Any]) -> str:
    if tr["best_step"] is None:
        return "not tracked (no held-out split)"
    ended = "stopped early" if tr["stopped_early"] else "ran the whole budget"
    verdict = {True: "**still improving**", False: "converged", None: "not judged (no run.eval_every)"}
    return (
        f"{ended}; best held-out step {tr['best_step']}, weights from step {tr['weights_step']}; "
        f"{verdict[tr['still_improving']]}"
    )


def render_readme(card: dict[str, Any]) -> str:
    ds, tr = card["dataset"], card["training"]
    divergence = card["divergence"] if card["beta"] is None else f"{card['divergence']} (beta {card['beta']})"
    from huggingface_hub import ModelCardData

    meta = ModelCardData(
        library_name="transformers",
        tags=["speculative-decoding", "draft-model", "distillation", "tempdraft"],
        **card.get("hub", {}),
    )
    lines = [
        "---",
        meta.to_yaml(),
        "---",
        f"# {card['name']}",
        "",
        f"A speculative-decoding draft for `{card['teacher']['name']}`, distilled by tempdraft.",
        "",
        "| | |",
        "|---|---|",
        f"| dataset | `{ds['id']}` ({ds['name']}, version {ds['version']}) |",
        f"| fingerprint | `{ds['fingerprint']}` |",
        f"| config / split | `{ds['config']}` / `{ds['split']}` ({ds['rows']} rows) |",
        f"| generation temperatures | {ds['generation_temperatures']} |",
        f"| KD temperature | {card['kd_temperature']} |",
        f"| mode | {card['mode']} |",
        f"| divergence | {divergence} |",
        f"| loss temperature | {card['loss_temperature']} |",
        f"| draft init | {card['draft_init']} |",
        f"| steps | {tr['steps']} of {tr['max_steps']} ({tr['tokens']} tokens, {tr['seconds']:.0f} s) |",
        f"| convergence | {_convergence(tr)} |",
        f"| device / precision / saved as | {tr['device']} / {tr['precision']} / {tr['save_dtype']} |",
        f"| train loss first / final | {_fmt(tr['first_loss'])} / {_fmt(tr['final_loss'])} "
        f"(mean of steps {tr['final_loss_steps'][0]}-{tr['final_loss_steps'][1]}) |",
    ]
    if card.get("eval"):
        for when in ("before", "after"):
            e = card["eval"][when]
            acc = ", ".join(f"T={t}: {a:.4f}" for t, a in e["acceptance"].items())
            lines.append(f"| held-out {when} (step {e['step']}) | loss {_fmt(e['loss'])}; acceptance {acc} |")
        lines += ["", f"![learning curve]({PLOT_FILE})"]
    lines += ["", "Command:", "", f"    {card['command']}", "", f"Full record: `{CARD_FILE}`.", ""]
    return "\n".join(lines)


def write_card(output_dir: Path, card: dict[str, Any]) -> None:
    (output_dir / "README.md").write_text(render_readme(card))
    (output_dir / CARD_FILE).write_text(
        json.dumps(card, indent=2)
    )  # last: its presence marks a finished draft
