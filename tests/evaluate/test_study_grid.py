"""benchmarks/study_grid.py on a real `evaluate run` of two tiny drafts: it prices the grid's tokens per call
exactly as evaluate's `k: auto` does, refuses an eager probe as the price list, and writes its PNGs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import study_grid as grid
from evaluate.cli import main
from evaluate.drafts import save_truncated_draft
from tests.evaluate.test_cli import dataset  # noqa: F401  (the fixture: a built eval dataset)


@pytest.fixture()
def grid_run(tmp_path, tiny_teacher_dir, dataset) -> Path:  # noqa: F811
    """`evaluate run --k auto --analytic-samples` of drafts with KD temperatures 0 and 1 (1 and 2 layers)."""
    drafts = []
    for layers, kd_t in ((1, 0.0), (2, 1.0)):
        d = save_truncated_draft(tiny_teacher_dir, layers, tmp_path / f"kd{kd_t:g}")
        (d / "tempdraft-draft.json").write_text(json.dumps({"name": f"kd{kd_t:g}", "kd_temperature": kd_t}))
        drafts += ["--drafts", str(d)]
    out = tmp_path / "grid"
    args = ["run", "--target", str(tiny_teacher_dir), *drafts, "--prompts", str(dataset), "--k", "auto"]
    args += ["--temperatures", "0,1", "--k-max", "3", "--max-new-tokens", "8", "--analytic-samples", "3"]
    args += ["--num-prompts", "3", "--threads", "1", "--output-dir", str(out)]
    assert main(args) == 0
    return out / "results.json"


def test_prices_like_k_auto_and_writes_tables_and_heatmaps(grid_run, tmp_path, capsys):
    results = json.loads(grid_run.read_text())
    own = {}  # the run's own probes as the price list: the script must agree with evaluate's k: auto curve
    for path, probe in results["drafts"][0]["cost_probes"].items():
        own[float(path) == 0] = (probe["c"], {int(k): v for k, v in probe["verify_cost"].items()})
    kds, temps, cells = grid.price_grid(results, own)
    assert kds == [0.0, 1.0] and temps == [0.0, 1.0]
    first = results["drafts"][0]  # every draft has its own probe: `own` is the first one's
    for r in first["results"]:
        got = cells[first["kd_temperature"], r["temperature"]]
        best = max(r["k_auto"]["curve"], key=lambda c: c["predicted_speedup"])
        assert got["k"] == best["k"]
        assert math.isclose(got["speedup"], best["predicted_speedup"], rel_tol=1e-9)
        assert got["low"] <= got["speedup"] <= got["high"] and got["alpha"] == r["analytic"]["alpha"]

    # an eager probe is not the sampler a user runs: refused as --costs
    with pytest.raises(SystemExit, match="not compiled"):
        grid.main([str(grid_run), "--costs", str(grid_run), "--out", str(tmp_path / "png")])
    compiled = json.loads(grid_run.read_text())
    compiled["config"] |= {"compile": True, "cache": "static"}  # stands in for a compiled run's file
    costs = tmp_path / "measure.json"
    costs.write_text(json.dumps(compiled))
    assert grid.main([str(grid_run), "--costs", str(costs), "--out", str(tmp_path / "png")]) == 0
    table = capsys.readouterr().out
    assert "greedy: 2 probes" in table and "sampled: 2 probes" in table  # priced by both drafts' probes
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
    assert rows.count("| 0") == 2 and rows.count("| 1") == 2  # one α row and one speedup row per KD T
    for png in ("grid_alpha", "grid_speedup"):
        assert (tmp_path / "png" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
