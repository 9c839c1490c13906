"""KD-T x decode-T tables and heatmaps of one `benchmarks/study.py grid` run (docs/study.md, round 4c).

    python benchmarks/study_grid.py GRID.json --costs MEASURE.json --out DIR [--title "math, SeqKD, seed 0"]

GRID.json: the grid's `evaluate run` results (analytic α and the chained tokens per target call at
k = 1..k_max for every draft and decoding T, both from held-out teacher samples). MEASURE.json: an
`evaluate run --compile true --cache static` on the same GPU (`study.py measure`): its cost probes time
the compiled sampler (c and the verify cost per k, one probe per decoding path) and price the grid's
tokens per call as `k: auto` does, tokens/call / (c·k + verify_cost[k]) at the best k. The grid's own probe
ran eager at a token size (not the sampler a user runs) and is not used. Draft weights do not change a
step's cost, so the mean of that run's probes (one per draft and decoding path) prices every draft of the
grid; their spread is printed (round 4c: ~10%, so cells within ~10% of 1x are not decided by it).

Prints two Markdown tables (analytic α; predicted speedup at the best k >= 1 with its 95% bootstrap
interval, k in brackets; below 1x `k: auto` runs the target alone) and writes DIR/grid_alpha.png and
DIR/grid_speedup.png (rows: KD temperature; columns: decoding temperature; each column's best KD T framed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluate.probs import is_greedy  # noqa: E402

Costs = tuple[float, dict[int, float]]  # c, verify cost per k (target steps)
Cells = dict[tuple[float, float], dict[str, Any]]  # (KD T, decode T) -> alpha, speedup, low, high, k


def probe_costs(measure: dict[str, Any]) -> tuple[dict[bool, Costs], str]:
    """{greedy?: (c, verify cost per k)}: the mean over every draft's compiled probe of MEASURE.json (the
    probes of one architecture differ run to run: round 4c saw ~10%), and a line saying how far apart."""
    cfg = measure["config"]
    if not cfg.get("compile") or cfg.get("cache") != "static":
        raise SystemExit("--costs: that run's probe was not compiled with a static cache: not the sampler")
    probes: dict[bool, list[dict[str, Any]]] = {}
    for draft in measure["drafts"]:
        for path, probe in draft["cost_probes"].items():
            probes.setdefault(is_greedy(float(path)), []).append(probe)
    costs, spread = {}, []
    for greedy, found in sorted(probes.items()):
        ks = sorted(set.intersection(*(set(p["verify_cost"]) for p in found)), key=int)
        c = statistics.fmean(p["c"] for p in found)
        costs[greedy] = (c, {int(k): statistics.fmean(p["verify_cost"][k] for p in found) for k in ks})
        steps = [[p["c"] * int(k) + p["verify_cost"][k] for p in found] for k in ks]  # per k, per probe
        apart = max((max(x) - min(x)) / statistics.fmean(x) for x in steps)
        spread.append(
            f"{'greedy' if greedy else 'sampled'}: {len(found)} probes, steps up to {apart:.0%} apart"
        )
    return costs, "; ".join(spread)


def cell(result: dict[str, Any], costs: dict[bool, Costs]) -> dict[str, Any]:
    """Analytic α and the predicted speedup at the best k >= 1 with its interval (below 1x `k: auto`
    would not speculate: it runs the target alone)."""
    greedy = is_greedy(result["temperature"])
    if greedy not in costs:
        raise SystemExit(
            f"--costs: no {'greedy' if greedy else 'sampled'} probe for decode T {result['temperature']:g}"
        )
    c, verify = costs[greedy]

    def step(k: int) -> float:  # one step of k drafts, in target steps (what k: auto divides by)
        return c * k + verify[k]

    best = max(
        (p for p in result["k_auto"]["curve"] if p["k"] in verify),
        key=lambda p: p["tokens_per_call"] / step(p["k"]),
    )
    k = best["k"]
    return {
        "alpha": result["analytic"]["alpha"],
        "speedup": best["tokens_per_call"] / step(k),
        "low": best["low"] / step(k),
        "high": best["high"] / step(k),
        "k": k,
    }


def price_grid(results: dict[str, Any], costs: dict[bool, Costs]) -> tuple[list[float], list[float], Cells]:
    drafts = sorted(results["drafts"], key=lambda d: d["kd_temperature"])
    temps = results["config"]["temperatures"]
    cells = {(d["kd_temperature"], r["temperature"]): cell(r, costs) for d in drafts for r in d["results"]}
    return [d["kd_temperature"] for d in drafts], temps, cells


def tables(kds: list[float], temps: list[float], cells: Cells) -> str:
    head = "| KD T \\ decode T | " + " | ".join(f"{t:g}" for t in temps) + " |"
    rule = "|---" * (len(temps) + 1) + "|"
    best = {t: max(kds, key=lambda kd, t=t: cells[kd, t]["alpha"]) for t in temps}
    lines = ["Analytic α (best KD T of each column in bold):", "", head, rule]
    for kd in kds:
        vals = [f"{cells[kd, t]['alpha']:.3f}" for t in temps]
        vals = [f"**{v}**" if best[t] == kd else v for v, t in zip(vals, temps, strict=True)]
        lines.append(f"| {kd:g} | " + " | ".join(vals) + " |")
    lines += [
        "",
        "Predicted speedup at the best k >= 1, compiled sampler's costs (95% CI) [k]; < 1: k auto = 0:",
        "",
        head,
        rule,
    ]
    for kd in kds:
        vals = [cells[kd, t] for t in temps]
        lines.append(
            f"| {kd:g} | "
            + " | ".join(f"{v['speedup']:.2f} ({v['low']:.2f}–{v['high']:.2f}) [{v['k']}]" for v in vals)
            + " |"
        )
    return "\n".join(lines)


def heatmap(
    kds: list[float],
    temps: list[float],
    cells: Cells,
    key: str,
    title: str,
    label: str,
    vrange: tuple[float, float],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    values = [[cells[kd, t][key] for t in temps] for kd in kds]
    fig, ax = plt.subplots(figsize=(1.0 * len(temps) + 3, 0.55 * len(kds) + 2))
    im = ax.imshow(values, cmap="RdYlGn" if key == "speedup" else "viridis", vmin=vrange[0], vmax=vrange[1])
    for j, t in enumerate(temps):
        top = max(range(len(kds)), key=lambda i, t=t: cells[kds[i], t][key])
        ax.add_patch(Rectangle((j - 0.5, top - 0.5), 1, 1, fill=False, lw=2, color="black"))
        for i, kd in enumerate(kds):
            v = cells[kd, t]
            text = f"{v[key]:.2f}" + (
                f"\n±{(v['high'] - v['low']) / 2:.2f} k{v['k']}" if key == "speedup" else ""
            )
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="black" if key == "speedup" else "white",
            )
    ax.set_xticks(range(len(temps)), [f"{t:g}" for t in temps])
    ax.set_yticks(range(len(kds)), [f"{kd:g}" for kd in kds])
    ax.set_xlabel("decoding temperature")
    ax.set_ylabel("KD temperature (teacher samples)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", type=Path, help="the grid's evaluate run results.json")
    p.add_argument("--costs", type=Path, required=True, help="a compiled evaluate run's results.json")
    p.add_argument("--out", type=Path, required=True, help="folder for the two PNGs")
    p.add_argument("--title", default="", help="what the grid is (domain, KD mode, seed)")
    args = p.parse_args(argv)
    costs, spread = probe_costs(json.loads(args.costs.read_text()))
    kds, temps, cells = price_grid(json.loads(args.grid.read_text()), costs)
    args.out.mkdir(parents=True, exist_ok=True)
    about = f" ({args.title})" if args.title else ""
    heatmap(
        kds,
        temps,
        cells,
        "alpha",
        f"analytic α, KD T × decode T{about}",
        "α",
        (0, 1),
        args.out / "grid_alpha.png",
    )
    heatmap(
        kds,
        temps,
        cells,
        "speedup",
        f"predicted speedup at the best k{about}, ±: half 95% CI",
        "speedup over target alone (×)",
        (0.5, 1.5),
        args.out / "grid_speedup.png",
    )
    print(f"Costs: the mean of the compiled probes ({spread}).\n")
    print(tables(kds, temps, cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
