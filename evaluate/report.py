"""Write a sweep's results: results.json, results.md (one table) and PNG plots.

Plots: speedup vs decoding T per draft (measured solid, cost-model prediction dotted, assisted generation
dashed), α vs T per draft (empirical with ±1 s.e. bars, analytic as crosses), and — when drafts carry
their KD temperatures — a KD-T × decode-T heatmap of the speedup (the paper's Figure 2 layout).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from builders.public import public_values


def _f(x: Any, fmt: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return format(x, fmt)


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
        f"torch {versions['torch']}, transformers {versions['transformers']}. k = {cfg['k']}, "
        f"{results['prompts']['count']} prompts × {cfg['max_new_tokens']} new tokens, "
        f"prompts from {results['prompts']['source']}.",
        "",
        "| draft | KD T | T | α emp (±se) | α analytic | acc. rate | tokens/call | c | speedup | predicted "
        "| emp/pred | assisted | vLLM | analytic faster |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in results["drafts"]:
        for r in d["results"]:
            an = r.get("analytic", {})
            assisted = r.get("assisted", {})
            lines.append(
                f"| {d['name']} | {_f(d['kd_temperature'], 'g')} | {r['temperature']:g} "
                f"| {_f(r['alpha'])} (±{_f(r['alpha_se'], '.3f')}) | {_f(an.get('alpha'))} "
                f"| {_f(r['acceptance_rate'])} | {_f(r['block_efficiency'], '.2f')} | {_f(r['c'])} "
                f"| {_f(r['speedup'], '.2f')}× | {_f(r['predicted_speedup'], '.2f')}× "
                f"| {_f(r['empirical_over_predicted'], '.2f')} "
                f"| {_f(assisted.get('speedup_vs_transformers_generate'), '.2f')}× "
                f"| {_f(r.get('vllm', {}).get('speedup'), '.2f')}× "
                f"| {_f(an.get('time_ratio_per_position'), '.0f')}× |"
            )
    lines += [
        "",
        "α emp: mean Σ min(p, q) over the sampler's verified positions; α analytic: one teacher-forced "
        "pass over held-out teacher samples. speedup: decode-phase time per token, target alone / "
        "speculative. predicted: (1 − α^(k+1)) / ((1 − α)(c·k + 1)) with the empirical α and measured c. "
        "assisted: transformers assisted generation vs transformers generate, same prompts. vLLM: vLLM "
        "draft-model speculative decoding vs vLLM alone (when enabled). analytic faster: sampler time per "
        "verified position / teacher-forced time per scored position.",
        "",
    ]
    return "\n".join(lines)


def _plot_curves(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for d in results["drafts"]:
        ts = [r["temperature"] for r in d["results"]]
        (line,) = ax.plot(ts, [r["speedup"] for r in d["results"]], "o-", label=f"{d['name']} (measured)")
        ax.plot(
            ts,
            [r["predicted_speedup"] for r in d["results"]],
            ":",
            color=line.get_color(),
            label=f"{d['name']} (cost model)",
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
    ax.set_ylabel("speedup over target alone")
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


def _plot_heatmap(results: dict[str, Any], out: Path) -> Path | None:
    rows = [d for d in results["drafts"] if d.get("kd_temperature") is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows.sort(key=lambda d: d["kd_temperature"])
    temps = results["config"]["temperatures"]
    grid = [
        [next((r["speedup"] for r in d["results"] if r["temperature"] == t), math.nan) for t in temps]
        for d in rows
    ]
    fig, ax = plt.subplots(figsize=(4.5 + 0.9 * len(temps), 2.5 + 0.5 * len(rows)))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(temps)), [f"{t:g}" for t in temps])
    ax.set_yticks(range(len(rows)), [f"{d['kd_temperature']:g} ({d['name']})" for d in rows], fontsize=7)
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            ax.text(j, i, _f(v, ".2f"), ha="center", va="center", color="white", fontsize=8)
    ax.set_xlabel("decoding temperature")
    ax.set_ylabel("KD temperature (draft)")
    fig.colorbar(im, ax=ax, label="speedup")
    fig.tight_layout()
    path = out / "heatmap_kd_vs_decode_temperature.png"
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
    heat = _plot_heatmap(results, out)
    if heat:
        paths["heatmap"] = heat
    return {k: str(v) for k, v in paths.items()}
