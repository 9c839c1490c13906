"""Learning curves of a study grid's drafts in one PNG: held-out α vs step, one line per draft.

    python benchmarks/study_curves.py docs/study/r4d/runs.json.gz grid/math/s0 --out curves_math_s0.png

RUNS: a `benchmarks/study.py` results.json (or runs.json[.gz]); KEY: a grid phase's run key, whose
`outputs.drafts` holds every draft's card (`distill train` writes the held-out curve into it). Each line is
the held-out α at the draft's own data temperature; colour = KD temperature, solid = online KD, dashed =
SeqKD; a dot marks the step whose weights were kept (early stopping), a cross where training stopped.
Shows whether a budget converges (docs/study.md round 4d: online KD kept steps 1,024-1,600, SeqKD 352-704).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.study_grid import arm, read  # noqa: E402


def curves(cards: dict[str, dict[str, Any]], title: str, path: Path) -> list[str]:
    """Draw the cards' held-out α curves into `path`; returns the drafts drawn, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    cmap = plt.get_cmap("viridis")
    drawn = []
    for name, card in sorted(cards.items(), key=lambda kv: (arm(kv[0]), kv[1]["kd_temperature"] or 0)):
        curve, kd = card["eval"]["curve"], card["kd_temperature"] or 0.0
        t = next(iter(curve[0]["acceptance"]))  # the data's own temperature (one per grid draft)
        steps = [e["step"] for e in curve]
        alphas = [e["acceptance"][t] for e in curve]
        style = "-" if card["mode"] == "online" else "--"
        (line,) = ax.plot(steps, alphas, style, color=cmap(kd), lw=1.4, label=f"{card['mode']} KD T {kd:g}")
        best = card["training"]["best_step"]
        ax.plot(best, alphas[steps.index(best)], "o", color=line.get_color(), ms=5)
        ax.plot(steps[-1], alphas[-1], "x", color=line.get_color(), ms=6)
        drawn.append(name)
    ax.set_xlabel("optimizer step (32 rows each)")
    ax.set_ylabel("held-out α at the data's temperature")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="a study.py results.json / runs.json[.gz]")
    p.add_argument("key", help="a grid phase's run key, e.g. grid/math/s0")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    runs = read(args.runs)["runs"]
    if args.key not in runs or "drafts" not in runs[args.key].get("outputs", {}):
        raise SystemExit(f"{args.key}: no grid run with draft cards in {args.runs} (keys: {sorted(runs)})")
    title = args.title or f"held-out α vs step, {args.key} (dot: weights kept; x: training stopped)"
    drawn = curves(runs[args.key]["outputs"]["drafts"], title, args.out)
    print(f"wrote {args.out}: {len(drawn)} drafts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
