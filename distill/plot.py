"""The learning curve as a PNG: held-out alpha per decoding temperature and held-out loss vs step.

Written by the trainer beside the card as `learning_curve.png`; redraw one from a card with

    python -c "import json, sys; from distill.plot import plot_card; plot_card(sys.argv[1])" DRAFT_DIR
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.names import DRAFT_CARD_FILE

PLOT_FILE = "learning_curve.png"


def plot_learning_curve(
    curve: list[dict[str, Any]], path: Path, title: str, best_step: int | None = None
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    steps = [e["step"] for e in curve]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for t in curve[0]["acceptance"]:
        ax_acc.plot(steps, [e["acceptance"][t] for e in curve], marker=".", label=f"T = {t}")
    ax_acc.set(xlabel="optimizer step", ylabel="teacher-forced acceptance alpha (fraction)")
    ax_acc.set_title("held-out acceptance per decoding temperature", fontsize=10)
    ax_loss.plot(steps, [e["loss"] for e in curve], marker=".", color="black")
    ax_loss.set(xlabel="optimizer step", ylabel="objective per target token (nats)")
    ax_loss.set_title("held-out loss", fontsize=10)
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        if best_step is not None:
            ax.axvline(best_step, color="grey", linestyle="--", linewidth=1, label="best step")
    ax_acc.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_card(draft_dir: str | Path) -> Path:
    """Redraw `learning_curve.png` of a trained draft from its card."""
    folder = Path(draft_dir)
    card = json.loads((folder / DRAFT_CARD_FILE).read_text())
    return plot_learning_curve(
        card["eval"]["curve"], folder / PLOT_FILE, card_title(card), card["training"].get("best_step")
    )


def card_title(card: dict[str, Any]) -> str:
    return f"{card['name']}: {card['mode']} on {card['dataset']['id']} [{card['dataset']['config']}]"
