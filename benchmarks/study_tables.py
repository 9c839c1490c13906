"""Markdown tables for docs/study.md from one study run's results.json (rounds 1-3, written by the
earlier benchmarks/study.py: `git show d090c07:benchmarks/study.py`).

    python benchmarks/study_tables.py docs/study/h100-math3/results.json > /tmp/tables.md

Prints: the KD-T x decode-T α grids, finding 2 and 3 as paired differences (when results.json has `paired`),
the mixture comparison, the empirical cells and the out-of-domain table. Numbers only, no interpretation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.study_grid import read  # noqa: E402


def ci(pair: list[float], fmt: str = "{:.3f}") -> str:
    return "[" + ", ".join(fmt.format(x) for x in pair) + "]"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def header(*columns: str) -> list[str]:
    return [row(list(columns)), "|---" * len(columns) + "|"]


def sign(pair: list[float]) -> str:
    """'+' / '−' when the 95% interval excludes 0, '=' when it holds 0 (not a finding)."""
    return "+" if pair[0] > 0 else "−" if pair[1] < 0 else "="


def grid_tables(res: dict[str, Any]) -> list[str]:
    out = []
    for mode, grid in res.get("grid", {}).items():
        kds = sorted(grid, key=float)
        decs = list(grid[kds[0]])
        best = {d: max(kds, key=lambda k, d=d: grid[k][d]["alpha"]) for d in decs}
        seeds = max(grid[k][d]["n_seeds"] for k in kds for d in decs)
        out += [
            f"**{mode}**, analytic α, mean of {seeds} seed(s) (rows: KD T; columns: decoding T; bold: best "
            "of the column)",
            "",
            *header("KD T \\ decode T", *decs),
        ]
        for k in kds:
            cells = [
                f"**{grid[k][d]['alpha']:.3f}**" if best[d] == k else f"{grid[k][d]['alpha']:.3f}"
                for d in decs
            ]
            out.append(f"| {k} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def finding2(res: dict[str, Any]) -> list[str]:
    diag = res.get("paired", {}).get("diagonal_vs_kd", {})
    if not diag:
        return []
    out = [
        "Finding 2, paired: the diagonal draft (KD T = decode T) minus each other KD T of its column "
        "(Δα, 95% paired bootstrap CI over prompts, seed means). `+`: diagonal better, `−`: worse, "
        "`=`: CI holds 0.",
        "",
        *header("mode", "decode T", "diagonal better / tie / worse", "Δα vs each KD T"),
    ]
    for mode, cols in diag.items():
        for d, others in cols.items():
            marks = [sign(v["alpha_diff_ci"]) for v in others.values()]
            detail = "; ".join(
                f"KD {t}: {v['alpha_diff']:+.3f} {ci(v['alpha_diff_ci'], '{:+.3f}')} "
                f"{sign(v['alpha_diff_ci'])}"
                for t, v in others.items()
            )
            out.append(
                f"| {mode} | {d} | {marks.count('+')} / {marks.count('=')} / {marks.count('−')} | {detail} |"
            )
    return out + [""]


def finding3(res: dict[str, Any]) -> list[str]:
    rows = res.get("paired", {}).get("online_vs_seqkd", {})
    if not rows:
        return []
    out = [
        "Finding 3, paired: online minus SeqKD (Δα and predicted-speedup gain, 95% paired CI). "
        '"best" compares each mode\'s best KD T of the column (picked on these prompts).',
        "",
        *header("decode T", "diagonal Δα", "best: online KD T vs SeqKD KD T", "best Δα", "best speedup gain"),
    ]
    for d, r in rows.items():
        dg = r.get("diagonal")
        dtxt = (
            f"{dg['alpha_diff']:+.3f} {ci(dg['alpha_diff_ci'], '{:+.3f}')} {sign(dg['alpha_diff_ci'])}"
            if dg
            else "–"
        )
        b = r["best"]
        out.append(
            f"| {d} | {dtxt} | {b['online_kd']:g} vs {b['seqkd_kd']:g} | {b['alpha_diff']:+.3f} "
            f"{ci(b['alpha_diff_ci'], '{:+.3f}')} {sign(b['alpha_diff_ci'])} | "
            f"{100 * b['speedup_gain']:+.1f}% {ci([100 * x for x in b['speedup_gain_ci']], '{:+.1f}')} |"
        )
    return out + [""]


def mixtures(res: dict[str, Any]) -> list[str]:
    mix = res.get("mixtures", {})
    arms = mix.get("arms", {})
    if not arms:
        return []
    decs = list(next(iter(arms.values())))
    out = [
        f"Mixtures ({len(mix.get('seeds', []))} seeds each, seed-mean α, 95% CI over prompts)",
        "",
        *header("arm", *(f"α @ T={d}" for d in decs)),
    ]
    for arm, cells in arms.items():
        out.append(
            f"| {arm} | "
            + " | ".join(f"{cells[d]['alpha']:.3f} {ci(cells[d]['alpha_ci'])}" for d in decs)
            + " |"
        )
    out += [
        "",
        "Gain in predicted speedup over the best single-temperature draft (paired bootstrap):",
        "",
        *header("decode T", "baseline", "arm", "speedup gain [95% CI]", "Δα [95% CI]"),
    ]
    for d, rows in mix.get("vs_best_single", {}).items():
        for arm, v in rows.items():
            out.append(
                f"| {d} | {v['baseline']} | {arm} | {100 * v['speedup_gain']:+.2f}% "
                f"{ci([100 * x for x in v['speedup_gain_ci']], '{:+.2f}')} | {v['alpha_diff']:+.4f} "
                f"{ci(v['alpha_diff_ci'], '{:+.4f}')} |"
            )
    return out + [""]


def empirical(res: dict[str, Any]) -> list[str]:
    emp = res.get("empirical", {})
    if not emp:
        return []
    dec = res.get("empirical_decoder", {})
    out = [
        f"Empirical (speculative sampler, k = {dec.get('k')}, {dec.get('prompts')} prompts × "
        f"{dec.get('new_tokens')} new tokens, cache {dec.get('cache')}, compile {dec.get('compile')}; "
        "rows in the order they ran)",
        "",
        *header(
            "draft",
            "decode T",
            "speedup [95% CI]",
            "α empirical [95% CI]",
            "α analytic (same draft)",
            "predicted (sampler's α and c)",
            "sampler c",
            "tokens/call",
        ),
    ]
    for cell in dec.get("order", []):
        name, _, t = cell.partition(" @ T=")
        v = emp.get(name, {}).get(f"{float(t):g}")
        if v:
            out.append(
                f"| {name} | {float(t):g} | {v['speedup']:.2f} {ci(v['speedup_ci'], '{:.2f}')} | "
                f"{v['alpha']:.3f} {ci(v['alpha_ci'])} | {v['analytic_alpha_same_draft']:.3f} | "
                f"{v['predicted_speedup']:.2f} | {v['c']:.3f} | {v['block_efficiency']:.2f} |"
            )
    for e in res.get("empirical_errors", []):
        out.append(f"| {e['cell']} | failed | {e['error'][:120]} | | | | | |")
    return out + [""]


def out_of_domain(res: dict[str, Any]) -> list[str]:
    ood = res.get("out_of_domain_grid", {})
    if not ood:
        return []
    temps = list(next(iter(next(iter(ood.values())).values())))
    out = [
        "Out of domain (grid drafts, seed mean, 95% CI)",
        "",
        *header("draft", *(f"α @ {t}" for t in temps)),
    ]
    for mode, cells in ood.items():
        for kd, v in cells.items():
            out.append(
                f"| {mode} KD {kd} | "
                + " | ".join(f"{v[t]['alpha']:.3f} {ci(v[t]['alpha_ci'])}" for t in temps)
                + " |"
            )
    return out + [""]


def main() -> int:
    res = read(Path(sys.argv[1]))  # docs/study keeps large results gzipped
    print(
        "\n".join(
            grid_tables(res)
            + finding2(res)
            + finding3(res)
            + mixtures(res)
            + empirical(res)
            + out_of_domain(res)
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
