"""Write a search's results: search.json, search.md (every candidate) and candidates.png.

candidates.png: predicted speedup of every candidate at the serving temperature(s) on the search half,
with its 95% interval (bootstrap over prompts and seeds), sorted; finalists also show their confirm-half
value. search.md and the console also give each candidate's paired difference from the greedy candidate
(T = 0) and from the best single temperature (evaluate.search.paired), naming the baseline each number uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluate.report import json_safe
from evaluate.search.candidates import KD_NAMES


def _weights(r: dict[str, Any]) -> str:
    return ", ".join(f"{t}: {w:.2f}" for t, w in r["weights"].items())


def _verify(summary: dict[str, Any]) -> str:
    probe = summary.get("cost_probe") or {}
    costs = probe.get("verify_cost") or {}
    mode = "compiled" if probe.get("compiled") else "eager"
    text = ", ".join(f"{k}: {v:.2f}" for k, v in costs.items())
    return (
        f" ({mode}; rest of the sampler's step at k, after c*k, / one target step: {text})"
        if costs
        else " (given)"
    )


# How a baseline is described; greedy: its own label (greedy SeqKD (T=0), greedy online KD (T=0), ...).
_BASELINE = {"greedy": "", "best_single": "the best single temperature"}


def _named(name: str, label: str) -> str:
    what = _BASELINE[name]
    return label if not what or label.startswith(what) else f"{what} ({label})"


def _relative(p: dict[str, float] | None) -> str:
    return f"{p['relative']:+.1%} [{p['low']:+.1%}, {p['high']:+.1%}]" if p else ""


def winner_line(summary: dict[str, Any]) -> str:
    """The winner's paired differences from each baseline, on both halves (the console's summary)."""
    winner = next(r for r in summary["candidates"] if r["label"] == summary["winner"])
    parts = []
    for name, baseline in summary["baselines"].items():
        if baseline == winner["label"]:
            parts.append(f"is {_BASELINE[name] or baseline} itself")
            continue
        halves = [
            f"{_relative(winner['paired'][h][name])} {h} half"
            for h in ("search", "confirm")
            if name in winner.get("paired", {}).get(h, {})
        ]
        parts.append(f"vs {_named(name, baseline)}: " + ", ".join(halves))
    seeds = len(summary["seeds"])
    how = (
        f" (relative difference in predicted speedup, 95% paired bootstrap over prompts"
        f"{f' and {seeds} seeds' if seeds > 1 else ''})"
        if any(p.startswith("vs ") for p in parts)
        else ""
    )
    line = f"Winner {winner['label']}: " + "; ".join(parts) + how + "."
    if winner["search"]["objective"] <= 1.0:  # the best is still slower than the target alone
        line += (
            f" Even the winner predicts {winner['search']['objective']:.3f}x: at this serving mix the target"
            " alone is faster than every candidate (k: auto would not speculate)."
        )
    return line


def markdown(summary: dict[str, Any], published: dict[str, Any]) -> str:
    serving = ", ".join(f"T={t} ({w:.0%})" for t, w in summary["serving"].items())
    lines = [
        f"# Recipe search: pool {summary['pool']}, serving {serving}, drafts trained by "
        f"{KD_NAMES[summary.get('kd', 'seqkd')]}",
        "",
        f"`{summary['command']}`",
        "",
        f"c (draft step / target step) = {summary['c']:.3f}{_verify(summary)}; eval samples per half: "
        f"{summary['eval_samples']}. Winner: **{summary['winner']}** -> {published.get('dataset', '')} "
        f"(recipe {published['recipe']}, draft {published['draft']}).",
        "",
        winner_line(summary),
        "",
        "| candidate | origin | weights | steps | α (search) | best k | predicted speedup (search, 95% CI) "
        "| confirm | "
        + " | ".join(f"vs {_named(n, b)} (paired, search)" for n, b in summary["baselines"].items())
        + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(summary["baselines"]),
    ]
    for r in sorted(summary["candidates"], key=lambda r: -r["search"]["objective"]):
        s = r["search"]
        alphas = "/".join(f"{p['alpha']:.3f}" for p in s["per_temperature"])
        ks = "/".join(",".join(str(k) for k in p["best_k"]) for p in s["per_temperature"])
        steps = ",".join(str(t.get("steps", "")) for t in r["training"])
        paired = [
            "baseline" if r["label"] == b else _relative(r["paired"]["search"].get(name))
            for name, b in summary["baselines"].items()
        ]
        conf = r.get("confirm")
        conf_text = f"{conf['objective']:.3f}x [{conf['low']:.3f}, {conf['high']:.3f}]" if conf else ""
        lines.append(
            f"| {r['label']} | {r['origin']} | {_weights(r)} | {steps} | {alphas} "
            f"| {ks} | {s['objective']:.3f}x [{s['low']:.3f}, {s['high']:.3f}] | {conf_text} | "
            + " | ".join(paired)
            + " |"
        )
    lines += [
        "",
        "Predicted speedup: chained acceptance E[accepted | k] over held-out teacher samples at the serving "
        "temperature, (1 + E[accepted | k]) / (c·k + 1) at the best k, traffic-weighted over serving "
        "temperatures. Below 1x the target alone is faster at that temperature. With several seeds "
        f"({', '.join(str(x) for x in summary['seeds'])} here) every candidate is trained once per seed: "
        "steps and best k are per seed, α and the speedup the means over seeds, and intervals resample "
        "seeds as well as prompts. The 'vs' columns: relative difference in predicted speedup from the "
        "named baseline, 95% paired bootstrap (the same prompts and the same seed's replicate for both).",
    ]
    lines += [f"Note: {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(summary["candidates"], key=lambda r: r["search"]["objective"])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.6))
    y = list(range(len(rows)))
    vals = [r["search"]["objective"] for r in rows]
    err = [
        [v - r["search"]["low"] for v, r in zip(vals, rows, strict=True)],
        [r["search"]["high"] - v for v, r in zip(vals, rows, strict=True)],
    ]
    colors = ["tab:orange" if r["origin"] == "fixed" else "tab:blue" for r in rows]
    ax.barh(y, vals, xerr=err, color=colors, alpha=0.8, capsize=3)
    conf = [(i, r["confirm"]) for i, r in enumerate(rows) if "confirm" in r]
    if conf:
        ax.errorbar(
            [c["objective"] for _, c in conf],
            [i for i, _ in conf],
            xerr=[
                [c["objective"] - c["low"] for _, c in conf],
                [c["high"] - c["objective"] for _, c in conf],
            ],
            fmt="D",
            color="black",
            capsize=3,
            label="confirm half",
        )
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(y, [r["label"] for r in rows])
    lo = min(min(r["search"]["low"] for r in rows), 1.0)
    ax.set_xlim(lo - 0.05 * abs(lo), None)
    ax.set_xlabel("predicted speedup over the target alone (x), 95% CI")
    serving = ", ".join(f"T={t}" for t in summary["serving"])
    ax.set_title(f"Mixture candidates for serving at {serving} (c = {summary['c']:.2f})")
    from matplotlib.patches import Patch

    handles = [
        Patch(color="tab:orange", alpha=0.8, label="fixed candidate (search half)"),
        Patch(color="tab:blue", alpha=0.8, label="optimizer proposal (search half)"),
    ]
    if conf:
        handles.append(
            plt.Line2D([], [], marker="D", color="black", linestyle="", label="finalist, confirm half")
        )
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(summary: dict[str, Any], published: dict[str, Any], output_dir: str | Path) -> dict[str, str]:
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    data = {**summary, "published": published}
    (out / "search.json").write_text(json.dumps(json_safe(data), indent=1))
    (out / "search.md").write_text(markdown(summary, published))
    png = plot(summary, out / "candidates.png")
    return {"json": str(out / "search.json"), "markdown": str(out / "search.md"), "png": str(png)}
