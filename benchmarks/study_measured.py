"""Measured speedups of a compiled `evaluate run` (study.py measure / grid-measure) as tables and PNGs.

    .venv/bin/python benchmarks/study_measured.py docs/study/r4e/measure_online_s1.json.gz \
        --out docs/study/r4e/measured > docs/study/r4e/measured.md

Several results files (the parts of `study.py measure --part I/N`): their drafts in one table, each cell
against its own run's target-alone baseline and probe.

Prints two Markdown tables, rows = drafts (by KD T), columns = decoding T: the measured speedup (with its
95% interval over prompts where the run has one; bold: above 1x, by the interval when there is one) with
the k the sampler ran (and `k: auto`'s choice when it said 0 = "do not speculate"), and measured / predicted,
where predicted is `evaluate.report.predicted_at_run` (k: auto's probe-priced chained prediction at the k
run, with its 95% interval). Writes OUT/measured_vs_predicted.png (each cell, both intervals as error
bars, y = x for reference) and evaluate's heatmaps of the measured speedup and α (`plot_heatmaps`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.study_grid import read  # noqa: E402
from evaluate.report import (  # noqa: E402
    error_bars,
    heatmap_rows,
    known,
    measured_text,
    plot_heatmaps,
    predicted_at_run,
)


def cells(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (draft, decoding T): measured speedup, k run and chosen, the prediction at the k run."""
    out = []
    for d in heatmap_rows(results):  # evaluate's draft order: by KD T, then the others
        for r in d["results"]:
            value, low, high, _ = predicted_at_run(r)
            chosen = (r.get("k_auto") or {}).get("chosen_k", r["k"])
            out.append(
                dict(draft=d["name"], t=r["temperature"], speedup=r["speedup"], k=r["k"], chosen=chosen)
            )
            interval = (r.get("speedup_low"), r.get("speedup_high"))  # None: measured without one
            out[-1] |= dict(predicted=value, low=low, high=high, measured=measured_text(r), interval=interval)
            out[-1]["above_1"] = (interval[0] if known(interval[0]) else r["speedup"]) > 1  # by its low end
    return out


def same_setup(results: dict[str, Any]) -> tuple:
    """What the parts of one measurement share: target, prompts and every setting but drafts and folder."""
    cfg = {k: v for k, v in results["config"].items() if k not in ("drafts", "output_dir")}
    return results["target"]["name"], results["prompts"]["prompt_ids"], sorted(cfg.items(), key=str)


def table(rows: list[dict[str, Any]], text) -> list[str]:
    drafts, temps = list(dict.fromkeys(r["draft"] for r in rows)), sorted({r["t"] for r in rows})
    by = {(r["draft"], r["t"]): r for r in rows}
    lines = [
        "| draft \\ decode T | " + " | ".join(f"{t:g}" for t in temps) + " |",
        "|---" * (len(temps) + 1) + "|",
    ]
    for name in drafts:
        lines.append(f"| {name} | " + " | ".join(text(by[name, t]) for t in temps) + " |")
    return lines


def speedup_cell(r: dict[str, Any]) -> str:
    k = f"k {r['k']}" + (" (auto 0)" if r["chosen"] == 0 else "")
    return f"**{r['measured']}** {k}" if r["above_1"] else f"{r['measured']} {k}"


def ratio_text(r: dict[str, Any]) -> str:
    return f"{r['speedup'] / r['predicted']:.2f} ({r['predicted']:.2f} [{r['low']:.2f}, {r['high']:.2f}])"


def plot_vs_predicted(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    """OUT/measured_vs_predicted.png: each cell's measured speedup against the prediction at the k run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drafts = list(dict.fromkeys(r["draft"] for r in rows))
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name in drafts:
        mine = [r for r in rows if r["draft"] == name]
        ys = [r["predicted"] for r in mine]
        err = error_bars(ys, [(r["low"], r["high"]) for r in mine])
        measured = [r["speedup"] for r in mine]
        yerr = error_bars(measured, [r["interval"] for r in mine])
        ax.errorbar(ys, measured, xerr=err, yerr=yerr, fmt="o", capsize=2, ms=4, label=name)
    lo = min(min(r["speedup"], r["low"]) for r in rows) - 0.05
    hi = max(max(r["speedup"], r["high"]) for r in rows) + 0.05
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, label="measured = predicted")
    ax.axhline(1.0, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("predicted speedup at the k run (×, 95% interval)")
    ax.set_ylabel("measured speedup (×, 95% over prompts where measured)")
    ax.set_title(f"measured vs k: auto's prediction — {title}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "measured_vs_predicted.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = "several: the parts of one measurement (study.py measure --part), their drafts in one table"
    p.add_argument("results", type=Path, nargs="+", help=f"an evaluate run's results.json(.gz); {parts}")
    p.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    p.add_argument("--title", default="", help="what the drafts are (for the PNG titles)")
    args = p.parse_args(argv)
    runs = [read(path) for path in args.results]
    results = {**runs[0], "drafts": [d for run in runs for d in run["drafts"]]}
    for path, run in zip(args.results[1:], runs[1:], strict=True):  # parts of one measurement: one setup
        if same_setup(run) != same_setup(runs[0]):
            raise SystemExit(f"{path}: another target, prompts or settings than {args.results[0]}")
    rows = cells(results)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_vs_predicted(rows, args.out, args.title or results["target"]["name"])
    plot_heatmaps(results, args.out)
    ratios = [r["speedup"] / r["predicted"] for r in rows]
    print("Measured speedup (decode phase, target alone / speculative), k the sampler ran:\n")
    print("\n".join(table(rows, speedup_cell)))
    print("\nMeasured / predicted (the prediction at the k run, 95% interval):\n")
    print("\n".join(table(rows, ratio_text)))
    print(f"\nmeasured / predicted over {len(rows)} cells: {min(ratios):.2f} to {max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
