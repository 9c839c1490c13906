"""Write a sweep's results: results.json, results.md (one table) and PNG plots.

Plots: speedup vs decoding T per draft (measured solid with its 95% interval over prompts, the prediction
at the k run dotted with its 95% interval - `predicted_at_run` - assisted generation dashed), α vs T per
draft (empirical with ±1 s.e. bars, analytic as crosses), draft × decode-T heatmaps of the speedup and of
α (the paper's Figure 2 layout: drafts with a KD temperature sorted by it, then every other draft, e.g. a
mixture, as its own row named by its name; fixed colour scales, so small differences do not fill the map),
and with k: auto the predicted speedup vs k per temperature (k_curve.png; with measure_every_k the
measured speedup at each k as squares with their intervals).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.public import public_values


def known(x: Any) -> bool:
    """A value, not a missing one (None: results.json's null for NaN; NaN: not measured)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _f(x: Any, fmt: str = ".3f") -> str:
    return format(x, fmt) if known(x) else "–"


def error_bars(ys: list[float], intervals: list[tuple[Any, Any]]) -> list[list[float]]:
    """matplotlib's yerr from (low, high) per point; no bar where a run has no interval (one prompt, or a
    results.json written before measured intervals existed). Clamped at 0: a percentile interval may miss
    its own point estimate by a rounding error (or more, with two prompts), and yerr must not be negative."""
    ok = [known(lo) and known(hi) for lo, hi in intervals]
    below = [max(0.0, y - lo) if k else 0.0 for y, (lo, _), k in zip(ys, intervals, ok, strict=True)]
    above = [max(0.0, hi - y) if k else 0.0 for y, (_, hi), k in zip(ys, intervals, ok, strict=True)]
    return [below, above]


def _speedup_text(value: Any, low: Any, high: Any) -> str:
    """`1.08× [1.02, 1.13]`; the value alone when there is no interval (missing, or a point: low = high)."""
    interval = f" [{low:.2f}, {high:.2f}]" if known(low) and known(high) and high > low else ""
    return f"{_f(value, '.2f')}×{interval}"


def measured_text(row: dict[str, Any]) -> str:
    """The measured speedup, with its 95% interval over prompts when the run has one."""
    return _speedup_text(row["speedup"], row.get("speedup_low"), row.get("speedup_high"))


# What a run's target-alone time per token came from (config baseline_timing; runs before it: "once").
BASELINE_TIMING = {
    "interleaved": "the target alone re-run beside each sampler run, prompt by prompt in turn",
    "once": "the target alone timed once per temperature at the start of the run, shared by every draft",
}


def markdown_table(results: dict[str, Any]) -> str:
    env = results["environment"]
    cfg = results["config"]
    load = "/".join(f"{x:.1f}" for x in env["load_average_1m_5m_15m"] or [])
    versions = env["versions"]
    lines = [
        f"# Speculative decoding: {cfg['target']}",
        "",
        f"`{results['command']}`",
        "",
        f"{env['device_name']} ({env['device']}, {env['torch_threads']} torch threads, load {load}); "
        f"torch {versions['torch']}, transformers {versions['transformers']}. k = {cfg['k']}"
        f"{' (k_max ' + str(cfg['k_max']) + ')' if cfg['k'] == 'auto' else ''}, "
        f"{results['prompts']['count']} prompts × {cfg['max_new_tokens']} new tokens, "
        f"prompts from {results['prompts']['source']}.",
        "",
        "| draft | KD T | T | k | α emp (±se) | α analytic | acc. rate | tokens/call "
        "| full-k tokens/call (±se) | chained pred. (95% CI) | i.i.d. pred. | c | speedup "
        "| predicted (95% CI) | measured/pred. | assisted | vLLM "
        "| analytic faster |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in results["drafts"]:
        for r in d["results"]:
            an = r.get("analytic", {})
            assisted = r.get("assisted", {})
            full = r.get("tokens_per_call_full_steps", {})
            ch = an.get("chained") or {}
            auto = r.get("k_auto")
            k_text = f"{r.get('k', cfg['k'])}" + (f" (auto: {auto['chosen_k']})" if auto else "")
            pred, low, high, _ = predicted_at_run(r)
            lines.append(
                f"| {d['name']} | {_f(d['kd_temperature'], 'g')} | {r['temperature']:g} | {k_text} "
                f"| {_f(r['alpha'])} (±{_f(r['alpha_se'], '.3f')}) | {_f(an.get('alpha'))} "
                f"| {_f(r['acceptance_rate'])} | {_f(r['block_efficiency'], '.2f')} "
                f"| {_f(full.get('mean'), '.2f')} (±{_f(full.get('se'), '.2f')}) "
                f"| {_f(ch.get('tokens_per_call'), '.2f')} "
                f"[{_f(ch.get('low'), '.2f')}, {_f(ch.get('high'), '.2f')}] "
                f"| {_f(an.get('iid_tokens_per_call'), '.2f')} | {_f(r['c'])} "
                f"| {measured_text(r)} | {_speedup_text(pred, low, high)} | {_f(r['speedup'] / pred, '.2f')} "
                f"| {_f(assisted.get('speedup_vs_transformers_generate'), '.2f')}× "
                f"| {_f(r.get('vllm', {}).get('speedup'), '.2f')}× "
                f"| {_f(an.get('time_ratio_per_position'), '.0f')}× |"
            )
    lines += [
        "",
        "α emp: mean Σ min(p, q) over the sampler's verified positions; α analytic: one teacher-forced "
        "pass over held-out teacher samples. k: drafts per step the sampler ran (k: auto shows the chosen "
        "k; 0 = no k beats the target alone, run at k = 1 to measure it). tokens/call: all tokens / target "
        "calls; full-k tokens/call: mean (accepted + 1) over steps that drafted all k (what the predictions "
        "describe). chained pred.: E[accepted | k] + 1 from per-position β along the teacher samples, "
        "start positions weighted like the sampler's steps (bootstrap 95% interval; the uniform average "
        "over starts is in results.json); i.i.d. pred.: (1 − α^(k+1)) / (1 − α) from the analytic α. "
        "speedup: decode-phase time per token, target alone / speculative [95% paired bootstrap over "
        f"prompts]; {BASELINE_TIMING[results['config'].get('baseline_timing', 'once')]}. predicted: what "
        "k: auto predicted at the k the sampler ran (chained tokens per call / "
        "(c·k + verify cost), priced by the cost probe, 95% interval); with a fixed k (1 − α^(k+1)) / "
        "((1 − α)(c·k + v)) with the empirical α and the run's c and verify cost v. "
        "assisted: transformers assisted generation vs transformers generate, same prompts. vLLM: vLLM "
        "draft-model speculative decoding vs vLLM alone (when enabled). analytic faster: sampler time per "
        "verified position / teacher-forced time per scored position.",
        "",
    ]
    if results.get("phase_seconds"):
        total = sum(results["phase_seconds"].values()) or 1.0
        costs = ", ".join(
            f"{p} {v:.0f} s ({100 * v / total:.0f}%)" for p, v in results["phase_seconds"].items()
        )
        lines += [f"Wall time by phase: {costs}.", ""]
    return "\n".join(lines)


def predicted_at_run(row: dict[str, Any]) -> tuple[float, float, float, str]:
    """The prediction to hold the measured speedup against: with k: auto, the curve's entry at the k the
    sampler ran (probe-priced, chained, its 95% interval: what the choice of k was made on); else the
    paper's formula with the run's own verify cost. (value, low, high, which)."""
    for point in (row.get("k_auto") or {}).get("curve", []):
        if point["k"] == row["k"]:
            low, high = point["predicted_speedup_low"], point["predicted_speedup_high"]
            return point["predicted_speedup"], low, high, "k: auto's prediction (probe, chained)"
    value = row["predicted_speedup_with_verify_cost"]
    return value, value, value, "formula with the run's verify cost"


def _plot_curves(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for d in results["drafts"]:
        ts = [r["temperature"] for r in d["results"]]
        ys = [r["speedup"] for r in d["results"]]
        err = error_bars(ys, [(r.get("speedup_low"), r.get("speedup_high")) for r in d["results"]])
        line = ax.errorbar(ts, ys, yerr=err, fmt="o-", capsize=3, label=f"{d['name']} (measured)")[0]
        predicted = [predicted_at_run(r) for r in d["results"]]
        ax.errorbar(
            ts,
            [p[0] for p in predicted],
            yerr=error_bars([p[0] for p in predicted], [(p[1], p[2]) for p in predicted]),
            fmt=":",
            capsize=2,
            color=line.get_color(),
            label=f"{d['name']} ({predicted[0][3]})",
        )
        if all("assisted" in r for r in d["results"]):
            ax.plot(
                ts,
                [r["assisted"]["speedup_vs_transformers_generate"] for r in d["results"]],
                "s--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{d['name']} (transformers assisted)",
            )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("decoding temperature")
    ax.set_ylabel("speedup over target alone (×)")
    spread = any(known(r.get("speedup_low")) for d in results["drafts"] for r in d["results"])
    measured = "measured speedup" + (" (95% over prompts)" if spread else "")
    ax.set_title(f"{measured} vs the prediction at the k run (95%)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "speedup_vs_temperature.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for d in results["drafts"]:
        ts = [r["temperature"] for r in d["results"]]
        bars = ax.errorbar(
            ts,
            [r["alpha"] for r in d["results"]],
            yerr=[0.0 if math.isnan(r["alpha_se"]) else r["alpha_se"] for r in d["results"]],
            fmt="o-",
            capsize=3,
            label=f"{d['name']} (empirical)",
        )
        if all("analytic" in r for r in d["results"]):
            ax.plot(
                ts,
                [r["analytic"]["alpha"] for r in d["results"]],
                "x",
                ms=9,
                color=bars[0].get_color(),
                label=f"{d['name']} (analytic)",
            )
    ax.set_xlabel("decoding temperature")
    ax.set_ylabel("α = E[Σ min(p, q)]")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "alpha_vs_temperature.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written


def heatmap_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Drafts with a KD temperature sorted by it, then the others (mixtures, baselines) in config order."""
    kd = sorted(
        (d for d in results["drafts"] if d.get("kd_temperature") is not None),
        key=lambda d: d["kd_temperature"],
    )
    return kd + [d for d in results["drafts"] if d.get("kd_temperature") is None]


def _row_label(d: dict[str, Any]) -> str:
    return f"KD T {d['kd_temperature']:g} ({d['name']})" if d.get("kd_temperature") is not None else d["name"]


# Fixed colour scales: α on its full range; speedup on 0..2 around 1 (values outside are clipped in colour,
# the printed number is exact).
HEATMAPS = {  # file stem: (result key, title, colour-bar label, colour range)
    "heatmap_kd_vs_decode_temperature": (
        "speedup",
        "speedup over target alone",
        "speedup (×, colour 0–2)",
        0.0,
        2.0,
    ),
    "heatmap_alpha_kd_vs_decode_temperature": ("alpha", "α (empirical)", "α", 0.0, 1.0),
}


def plot_heatmaps(results: dict[str, Any], out: Path) -> list[Path]:
    rows = heatmap_rows(results)
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temps = results["config"]["temperatures"]
    written = []
    for stem, (key, title, label, vmin, vmax) in HEATMAPS.items():
        grid = [
            [next((r[key] for r in d["results"] if r["temperature"] == t), math.nan) for t in temps]
            for d in rows
        ]
        grid = [[math.nan if v is None else v for v in line] for line in grid]
        fig, ax = plt.subplots(figsize=(4.5 + 0.9 * len(temps), 2.5 + 0.5 * len(rows)))
        cmap = "RdYlGn" if key == "speedup" else "viridis"  # speedup: red below 1×, green above
        im = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(temps)), [f"{t:g}" for t in temps])
        ax.set_yticks(range(len(rows)), [_row_label(d) for d in rows], fontsize=7)
        for i, line in enumerate(grid):
            for j, v in enumerate(line):
                dark = key != "speedup" and not math.isnan(v) and (v - vmin) / (vmax - vmin) < 0.6
                ax.text(
                    j,
                    i,
                    _f(v, ".2f"),
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                    fontsize=8,
                )
        ax.set_xlabel("decoding temperature")
        ax.set_ylabel("draft")
        ax.set_title(f"{title}: draft × decoding temperature", fontsize=9)
        fig.colorbar(im, ax=ax, label=label)
        fig.tight_layout()
        written.append(out / f"{stem}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def _plot_k_curve(results: dict[str, Any], out: Path) -> Path | None:
    """Predicted speedup vs k per (draft, temperature), 95% interval as error bars, the chosen k ringed;
    with measure_every_k the measured speedup at each k as squares, with its interval over prompts."""
    cells = [(d, r) for d in results["drafts"] for r in d["results"] if r.get("k_auto")]
    if not cells:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for d, r in cells:
        curve, chosen = r["k_auto"]["curve"], r["k_auto"]["chosen_k"]
        ks = [c["k"] for c in curve]
        ys = [c["predicted_speedup"] for c in curve]
        err = error_bars(ys, [(c["predicted_speedup_low"], c["predicted_speedup_high"]) for c in curve])
        bars = ax.errorbar(
            ks,
            ys,
            yerr=err,
            fmt="o-",
            capsize=3,
            ms=4,
            label=f"{d['name']} T={r['temperature']:g} (chosen k={chosen})",
        )
        if chosen:
            ax.plot([chosen], [ys[ks.index(chosen)]], "o", ms=13, mfc="none", color=bars[0].get_color())
        measured = [c for c in curve if "measured_speedup" in c]
        if measured:  # measure_every_k: the sampler's speedup at each k, squares on the same colour
            measured_ys = [c["measured_speedup"] for c in measured]
            err = error_bars(
                measured_ys,
                [(c.get("measured_speedup_low"), c.get("measured_speedup_high")) for c in measured],
            )
            label = f"{d['name']} T={r['temperature']:g} measured"
            kw = dict(fmt="s--", ms=6, capsize=2, color=bars[0].get_color(), label=label)
            ax.errorbar([c["k"] for c in measured], measured_ys, yerr=err, **kw)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("k (draft tokens per target call)")
    ax.set_xticks(sorted({c["k"] for _, r in cells for c in r["k_auto"]["curve"]}))
    points = [c for _, r in cells for c in r["k_auto"]["curve"] if "measured_speedup" in c]
    ax.set_ylabel(("" if points else "predicted ") + "speedup over target alone (×)")
    title = "k: auto — chained tokens per call / (c·k + verify cost)"
    if points:  # a results.json from before measured intervals existed (re-plotted) has none
        spread = ", 95% over prompts" if any(known(c.get("measured_speedup_low")) for c in points) else ""
        title += f"; squares: measured{spread}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves, not on them
    fig.tight_layout()
    path = out / "k_curve.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def json_safe(x: Any) -> Any:
    """NaN/inf are not JSON: write null instead, so any JSON reader can load results.json."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def write_report(results: dict[str, Any], output_dir: str | Path) -> dict[str, str]:
    """Write everything; returns the paths written by kind."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    # results.json is shared as is: paths of models, drafts and datasets become their folder names
    paths["json"].write_text(json.dumps(json_safe(public_values(results)), indent=2, default=str))
    paths["markdown"].write_text(markdown_table(results))
    for p in _plot_curves(results, out):
        paths[p.stem] = p
    for p in plot_heatmaps(results, out):
        paths[p.stem] = p
    curve = _plot_k_curve(results, out)
    if curve:
        paths["k_curve"] = curve
    return {k: str(v) for k, v in paths.items()}
