"""KD-T x decode-T tables and heatmaps of `benchmarks/study.py grid` runs (docs/study.md, rounds 4c-4d).

    python benchmarks/study_grid.py GRID.json[.gz] [GRID.json ...] --costs MEASURE.json --out DIR [--title T]

GRID.json: a grid's `evaluate run` results (analytic α and the chained tokens per target call at
k = 1..k_max for every draft and decoding T, both from held-out teacher samples), one per training seed;
drafts are grouped into arms by their study.py names (`online-t0_4-s1` -> online). MEASURE.json: an
`evaluate run --compile true --cache static` on the same GPU (`study.py measure`): its cost probes time
the compiled sampler (c and the verify cost per k, one probe per decoding path) and price the grid's
tokens per call as `k: auto` does, tokens/call / (c·k + verify_cost[k]) at the best k. The grid's own probe
ran eager at a token size (not the sampler a user runs) and is not used. Draft weights do not change a
step's cost, so the mean of that run's probes (one per draft and decoding path) prices every draft of the
grid; their spread is printed (round 4c: up to 16-19%, so cells within ~10% of 1x are not decided by it).

Prints per arm two Markdown tables (analytic α; predicted speedup at the best k >= 1 with its 95% interval,
k in brackets; below 1x `k: auto` runs the target alone; means over seeds) and a comparison per decoding T
(each arm's diagonal against its best KD T; with two arms, best against best). Writes
DIR/grid_alpha_<arm>.png, DIR/grid_speedup_<arm>.png, with two arms DIR/grid_<arm0>_minus_<arm1>.png (rows:
KD temperature; columns: decoding temperature; each column's best framed), and DIR/grid_cells.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluate.probs import is_greedy  # noqa: E402

Costs = tuple[float, dict[int, float]]  # c, verify cost per k (target steps)
Cells = dict[tuple[str, float, float], dict[str, Any]]  # (arm, KD T, decode T) -> alpha, speedup, ..., k
Grid = dict[tuple[float, float], dict[str, Any]]  # one arm's (KD T, decode T) -> its cell (heatmaps)


def read(path: Path) -> dict[str, Any]:
    """A results.json, or its gzip (docs/study keeps the large ones compressed)."""
    return json.loads(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_text())


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
        apart = max((max(x) - min(x)) / statistics.median(x) for x in steps)
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


def arm(name: str) -> str:
    """The KD mode of a study.py grid draft (`online-t0_4-s1` -> `online`); other names are one arm."""
    found = re.fullmatch(r"(.+)-t\d+_\d+-s\d+", name)
    return found.group(1) if found else "draft"


def price_grid(results: dict[str, Any], costs: dict[bool, Costs]) -> Cells:
    """One grid run (one seed): {(arm, KD T, decode T): cell}."""
    return {
        (arm(d["name"]), d["kd_temperature"], r["temperature"]): cell(r, costs)
        for d in results["drafts"]
        for r in d["results"]
    }


# 97.5% quantiles of Student's t for 1..9 degrees of freedom (the seed spread of 2..10 seeds); more: 1.96.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262)


def over_seeds(runs: list[Cells]) -> Cells:
    """Mean over the runs (training seeds) holding each cell. Seeds run on one machine are scored on the
    same held-out samples (study.py builds one eval set), so sample noise does not average out over seeds:
    the interval combines the mean of the runs' bootstrap half-widths with the seed spread's t interval
    (n - 1 degrees of freedom); for seeds scored on a re-sampled eval set (another machine) it is
    conservative. `se` is that half-width / 1.96 (the tables print ±1.96·se)."""
    out: Cells = {}
    for key in sorted({key for run in runs for key in run}):
        found = [run[key] for run in runs if key in run]
        n, speedups = len(found), [f["speedup"] for f in found]
        within = statistics.fmean((f["high"] - f["low"]) / 2 for f in found)
        t975 = T975[n - 2] if 1 < n <= 10 else 1.96
        between = t975 * statistics.stdev(speedups) / math.sqrt(n) if n > 1 else 0.0
        out[key] = {
            "alpha": statistics.fmean(f["alpha"] for f in found),
            "speedup": statistics.fmean(speedups),
            "se": math.hypot(within, between) / 1.96,
            "k": statistics.mode(f["k"] for f in found),  # the speedup is each seed's own best k, averaged
            "seeds": n,
        }
    return out


def axes(cells: Cells) -> tuple[list[str], list[float], list[float]]:
    """(arms, KD temperatures, decoding temperatures) of the cells."""
    return tuple(sorted({key[i] for key in cells}) for i in range(3))  # type: ignore[return-value]


def kds_of(cells: Cells, arm: str) -> list[float]:
    """The KD temperatures this arm has drafts for."""
    return sorted({kd for a, kd, _ in cells if a == arm})


def ci(se: float) -> str:
    return f"±{1.96 * se:.3f}"


def arm_tables(name: str, cells: Cells) -> str:
    """Analytic α and predicted speedup (±95% half-width, k) of one arm, rows KD T, columns decoding T."""
    kds, temps = kds_of(cells, name), axes(cells)[2]
    head = "| KD T \\ decode T | " + " | ".join(f"{t:g}" for t in temps) + " |"
    rule = "|---" * (len(temps) + 1) + "|"
    seeds = sorted({cells[key]["seeds"] for key in cells if key[0] == name})
    lines = [
        f"**{name}** ({'/'.join(map(str, seeds))} seed(s), mean): analytic α, each column's best in bold",
        "",
    ]
    lines += [head, rule]
    best = {t: max(kds, key=lambda kd, t=t: cells[name, kd, t]["alpha"]) for t in temps}
    for kd in kds:
        vals = [f"{cells[name, kd, t]['alpha']:.3f}" for t in temps]
        vals = [f"**{v}**" if best[t] == kd else v for v, t in zip(vals, temps, strict=True)]
        lines.append(f"| {kd:g} | " + " | ".join(vals) + " |")
    lines += [
        "",
        f"**{name}**: predicted speedup at the best k >= 1 (±95%) [k]; < 1: `k: auto` runs the target alone",
        "",
    ]
    lines += [head, rule]
    for kd in kds:
        vals = [cells[name, kd, t] for t in temps]
        lines.append(
            f"| {kd:g} | " + " | ".join(f"{v['speedup']:.2f} {ci(v['se'])} [{v['k']}]" for v in vals) + " |"
        )
    return "\n".join(lines)


def comparisons(cells: Cells) -> str:
    """Per decoding T: each arm's diagonal (KD T = decode T) against that arm's best KD T, and with two arms
    the best of one against the best of the other. Intervals treat the cells as independent (the samples are
    shared, so a paired interval would be narrower: these are conservative). The best is picked on the same
    cells it is scored on, so "diagonal − best" leans negative and best − best away from 0 (a winner's
    curse of the order of a cell's interval)."""
    arms, _, temps = axes(cells)
    lines = ["| decode T | " + " | ".join(f"{a}: best KD T, speedup; diagonal − best" for a in arms)]
    lines[0] += " | " + (f"{arms[0]} best − {arms[1]} best (Δ speedup ±95%) |" if len(arms) == 2 else "")
    lines.append("|---" * (len(arms) + 1 + (len(arms) == 2)) + "|")
    for t in temps:
        row, bests = [f"{t:g}"], []
        for a in arms:
            kds = kds_of(cells, a)
            best = max(kds, key=lambda kd, a=a: cells[a, kd, t]["speedup"])
            b = cells[a, best, t]
            bests.append(b)
            text = f"{best:g}, {b['speedup']:.3f}"
            if t in kds and best != t:
                d = cells[a, t, t]
                text += f"; {d['speedup'] - b['speedup']:+.3f} {ci(math.hypot(d['se'], b['se']))}"
            elif t in kds:
                text += "; diagonal is best"
            row.append(text)
        if len(arms) == 2:
            diff = bests[0]["speedup"] - bests[1]["speedup"]
            row.append(f"{diff:+.3f} {ci(math.hypot(bests[0]['se'], bests[1]['se']))}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def heatmap(
    kds: list[float],
    temps: list[float],
    cells: Grid,
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
    im = ax.imshow(values, cmap="viridis" if key == "alpha" else "RdYlGn", vmin=vrange[0], vmax=vrange[1])
    for j, t in enumerate(temps):
        top = max(range(len(kds)), key=lambda i, t=t: cells[kds[i], t][key])
        ax.add_patch(Rectangle((j - 0.5, top - 0.5), 1, 1, fill=False, lw=2, color="black"))
        for i, kd in enumerate(kds):
            v = cells[kd, t]
            text = f"{v[key]:.2f}" + (f"\n±{1.96 * v['se']:.2f}" if key != "alpha" else "")
            text += f" k{v['k']}" if key != "alpha" and v.get("k") else ""  # a difference has no one k
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if key == "alpha" else "black",
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
    p.add_argument(
        "grids", type=Path, nargs="+", help="the grid's evaluate run results.json[.gz], one per seed"
    )
    p.add_argument("--costs", type=Path, required=True, help="a compiled evaluate run's results.json")
    p.add_argument("--out", type=Path, required=True, help="folder for the PNGs and grid_cells.json")
    p.add_argument("--title", default="", help="what the grid is (domain, seeds)")
    args = p.parse_args(argv)
    costs, spread = probe_costs(read(args.costs))
    cells = over_seeds([price_grid(read(path), costs) for path in args.grids])
    arms, _, temps = axes(cells)
    args.out.mkdir(parents=True, exist_ok=True)
    about = f", {args.title}" if args.title else ""
    for a in arms:
        kds = kds_of(cells, a)
        mine = {(kd, t): cells[a, kd, t] for kd in kds for t in temps}
        heatmap(
            kds,
            temps,
            mine,
            "alpha",
            f"analytic α, KD T × decode T ({a}{about})",
            "α",
            (0, 1),
            args.out / f"grid_alpha_{a}.png",
        )
        heatmap(
            kds,
            temps,
            mine,
            "speedup",
            f"predicted speedup at the best k ({a}{about}), ±: 95% CI",
            "speedup over target alone (×)",
            (0.5, 1.5),
            args.out / f"grid_speedup_{a}.png",
        )
    if len(arms) == 2:
        kds = sorted(set(kds_of(cells, arms[0])) & set(kds_of(cells, arms[1])))
        diff = {
            (kd, t): {
                "speedup": cells[arms[0], kd, t]["speedup"] - cells[arms[1], kd, t]["speedup"],
                "se": math.hypot(cells[arms[1], kd, t]["se"], cells[arms[0], kd, t]["se"]),
            }
            for kd in kds
            for t in temps
        }
        heatmap(
            kds,
            temps,
            diff,
            "speedup",
            f"{arms[0]} − {arms[1]}: predicted speedup, same KD T{about}",
            "Δ predicted speedup (×)",
            (-0.5, 0.5),
            args.out / f"grid_{arms[0]}_minus_{arms[1]}.png",
        )
    (args.out / "grid_cells.json").write_text(
        json.dumps([{"arm": a, "kd_t": kd, "decode_t": t, **v} for (a, kd, t), v in cells.items()], indent=1)
    )
    print(f"Costs: the mean of the compiled probes ({spread}).\n")
    print("\n\n".join(arm_tables(a, cells) for a in arms))
    print("\nDiagonal and arms, predicted speedup per decoding T:\n\n" + comparisons(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
