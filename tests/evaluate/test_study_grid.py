"""benchmarks/study_grid.py on a real `evaluate run` of tiny drafts: it prices the grid's tokens per call
exactly as evaluate's `k: auto` does, refuses an eager probe as the price list, averages seeds, compares KD
modes (online vs seqkd) and writes its PNGs."""

from __future__ import annotations

import gzip
import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks import study_grid as grid
from evaluate.cli import main
from evaluate.drafts import save_truncated_draft
from tests.evaluate.test_cli import dataset  # noqa: F401  (the fixture: a built eval dataset)


@pytest.fixture()
def grid_run(tmp_path, tiny_teacher_dir, dataset) -> Path:  # noqa: F811
    """`evaluate run --k auto --analytic-samples` of two KD modes (named as study.py names them) at KD
    temperatures 0 and 1; the online drafts have 2 layers, the seqkd ones 1."""
    drafts = []
    for mode, layers in (("seqkd", 1), ("online", 2)):
        for kd_t in (0.0, 1.0):
            name = f"{mode}-t{kd_t:.1f}-s0".replace(".", "_")
            d = save_truncated_draft(tiny_teacher_dir, layers, tmp_path / name)
            (d / "tempdraft-draft.json").write_text(json.dumps({"name": name, "kd_temperature": kd_t}))
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
    cells = grid.price_grid(results, own)
    assert grid.axes(cells) == (["online", "seqkd"], [0.0, 1.0], [0.0, 1.0])
    first = results["drafts"][0]  # every draft has its own probe: `own` is the first one's
    for r in first["results"]:
        got = cells[grid.arm(first["name"]), first["kd_temperature"], r["temperature"]]
        best = max(r["k_auto"]["curve"], key=lambda c: c["predicted_speedup"])
        assert got["k"] == best["k"]
        assert math.isclose(got["speedup"], best["predicted_speedup"], rel_tol=1e-9)
        assert got["low"] <= got["speedup"] <= got["high"] and got["alpha"] == r["analytic"]["alpha"]

    # an eager probe is not the sampler a user runs: refused as --costs
    with pytest.raises(SystemExit, match="not compiled"):
        grid.main([str(grid_run), "--costs", str(grid_run), "--out", str(tmp_path / "png")])
    compiled = json.loads(grid_run.read_text())
    compiled["config"] |= {"compile": True, "cache": "static"}  # stands in for a compiled run's file
    costs = tmp_path / "measure.json.gz"  # gzip, as docs/study keeps its large files
    costs.write_bytes(gzip.compress(json.dumps(compiled).encode()))
    assert grid.main([str(grid_run), "--costs", str(costs), "--out", str(tmp_path / "png")]) == 0
    table = capsys.readouterr().out
    assert "greedy: 4 probes" in table and "sampled: 4 probes" in table  # priced by every draft's probes
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
    # per mode an α and a speedup row per KD T, and the comparison's row per decoding T
    assert rows.count("| 0") == 5 and rows.count("| 1") == 5
    assert "online best − seqkd best" in table
    for png in ("alpha_online", "alpha_seqkd", "speedup_online", "speedup_seqkd", "online_minus_seqkd"):
        assert (tmp_path / "png" / f"grid_{png}.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "png" / "grid_cells.json").read_text())
    assert len(saved) == 2 * 2 * 2 and {c["arm"] for c in saved} == {"online", "seqkd"}


def cells_of(speedups: dict[tuple[str, float, float], tuple[float, float]]) -> grid.Cells:
    """Priced cells with the given (speedup, 95% half-width)."""
    return {
        key: {"alpha": 0.5, "speedup": s, "low": s - h, "high": s + h, "k": 2}
        for key, (s, h) in speedups.items()
    }


def test_seeds_scored_on_shared_samples_do_not_narrow_the_interval_and_their_spread_widens_it():
    """The grid's seeds are scored on one eval set: two seeds with the same result keep one seed's
    interval (no 1/sqrt(2)); seeds that disagree add a t interval of their spread (1 degree of freedom)."""
    same = cells_of({("seqkd", 0.0, 0.0): (1.0, 0.04)})
    twice = grid.over_seeds([same, same])["seqkd", 0.0, 0.0]
    assert twice["seeds"] == 2 and twice["speedup"] == 1.0 and 1.96 * twice["se"] == pytest.approx(0.04)
    apart = grid.over_seeds(
        [cells_of({("seqkd", 0.0, 0.0): (1.0, 0.0)}), cells_of({("seqkd", 0.0, 0.0): (1.2, 0.0)})]
    )["seqkd", 0.0, 0.0]
    assert apart["speedup"] == pytest.approx(1.1)
    assert 1.96 * apart["se"] == pytest.approx(12.706 * statistics.stdev([1.0, 1.2]) / math.sqrt(2))
    one = grid.over_seeds([same, cells_of({("seqkd", 1.0, 0.0): (0.9, 0.02)})])  # a cell only one seed has
    assert one["seqkd", 1.0, 0.0]["seeds"] == 1 and 1.96 * one["seqkd", 1.0, 0.0]["se"] == pytest.approx(0.02)


def test_comparisons_name_each_arms_best_and_the_diagonal_gap():
    se = 0.02 * 1.96  # the 95% half-width of se 0.02 (one seed: the interval is the run's own)
    cells = grid.over_seeds(
        [
            cells_of(
                {
                    ("online", 0.0, 0.0): (1.00, se),
                    ("online", 1.0, 0.0): (1.20, se),
                    ("seqkd", 0.0, 0.0): (1.10, se),
                    ("seqkd", 1.0, 0.0): (1.05, se),
                }
            )
        ]
    )
    (row,) = [line for line in grid.comparisons(cells).splitlines() if line.startswith("| 0 |")]
    online, seqkd, diff = row.strip("| ").split(" | ")[1:]
    assert online.startswith("1, 1.200; -0.200")  # online's diagonal (KD 0) trails its best (KD 1)
    assert seqkd == "0, 1.100; diagonal is best"
    assert diff == f"+0.100 ±{1.96 * math.hypot(0.02, 0.02):.3f}"
