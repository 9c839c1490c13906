"""benchmarks/study.py is a thin driver: every phase's `--quick --dry-run` listing holds only the product's
own commands (`python -m builders|distill|evaluate|registry ...`) or a benchmarks/bench_*.py script, the
GPU sizes are study_r4.sh's, and `merge` unions results.json files by run key.

    .venv/bin/python -m pytest tests/benchmarks/test_study.py -q
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import study

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "benchmarks" / "study.py"
PHASES = ["pool", "instr-pool", "curve", "search", "measure", "ksweep", "grid", "grid-measure", "kcurve"]


def listing(tmp_path: Path, *args: str) -> list[list[str]]:
    """The commands a dry run prints (`$ ...` lines), split like a shell would."""
    where = [
        "--out",
        str(tmp_path / "out"),
        "--state",
        str(tmp_path / "state"),
        "--data",
        str(tmp_path / "data"),
    ]
    cmd = [sys.executable, str(STUDY), *args, "--dry-run", *where]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    return [shlex.split(line[2:]) for line in out.splitlines() if line.startswith("$ ")]


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "gpu"])
@pytest.mark.parametrize("phase", PHASES)
def test_every_command_is_a_product_command(phase, quick, tmp_path):
    commands = listing(tmp_path, phase, *(["--quick"] if quick else []), "--seeds", "2")
    assert commands, f"{phase} lists no command"
    for argv in commands:
        product = argv[:2] == ["python", "-m"] and argv[2] in {"builders", "distill", "evaluate", "registry"}
        bench = argv[0] == "python" and argv[1].startswith("benchmarks/bench_") and argv[1].endswith(".py")
        assert product or bench, argv
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists(), "a dry run writes nothing"


def test_gpu_sizes_are_round_4s(tmp_path):
    (search,) = listing(tmp_path, "search", "--serving-t", "0.6")
    assert "serving.temperatures={0.6: 1}" in search and "budget.max_steps=1536" in search
    assert "budget.train_rows=2048" in search and "budget.candidates=12" in search
    (build, _) = listing(tmp_path, "pool")
    assert any("limit: 3072" in a and "gsm8k/train.jsonl" in a for a in build)
    grid = listing(tmp_path, "grid", "--seeds", "3", "--first-seed", "1")
    trains = [a for a in grid if a[2] == "distill"]
    assert len(trains) == 3 * 2 * 6  # seeds x (seqkd, online) x pool temperatures
    assert "loss.temperature=0.1" in trains[0] and "run.seed=1" in trains[0]  # online first: it is longer
    assert "optim.max_steps=3072" in trains[0] and "optim.max_steps=1536" in trains[6]
    runs = [a for a in grid if a[2:4] == ["evaluate", "run"]]
    assert len(runs) == 3 and all(a.count("--drafts") == 12 for a in runs)
    assert "0,0.2,0.4,0.6,0.8,1.0,1.2,1.5,2.0" in runs[0]


def test_an_online_search_uses_the_online_config_budget_and_folder(tmp_path):
    (seqkd,) = listing(tmp_path, "search")
    (online,) = listing(tmp_path, "search", "--modes", "online")
    assert not any(a.startswith("distill=") for a in seqkd) and "budget.max_steps=1536" in seqkd
    assert "distill=distill/configs/online_fkl.yaml" in online and "budget.max_steps=3072" in online
    assert f"output_dir={tmp_path / 'state' / 'search-online'}" in online


def test_grid_measure_runs_the_compiled_sampler_on_each_seeds_grid_drafts(tmp_path):
    runs = listing(tmp_path, "grid-measure", "--modes", "online", "--first-seed", "1", "--seeds", "2")
    assert len(runs) == 2 and all(a[2:4] == ["evaluate", "run"] for a in runs)
    for seed, argv in zip((1, 2), runs, strict=True):
        drafts = [argv[i + 1] for i, a in enumerate(argv) if a == "--drafts"]
        grid = tmp_path / "state" / "grid" / "math"
        assert drafts == [
            str(grid / f"online-t{t}-s{seed}") for t in ("0_0", "0_2", "0_4", "0_6", "0_8", "1_0")
        ]
        assert "--compile" in argv and argv[argv.index("--temperatures") + 1] == "0,0.2,0.4,0.6,0.8,1.0"
        assert argv[argv.index("--output-dir") + 1].endswith(f"grid-measure-math-s{seed}-online")
    halves = [listing(tmp_path, "grid-measure", "--modes", "online", "--part", f"{i}/2")[0] for i in (1, 2)]
    for i, argv in enumerate(halves):
        drafts = [argv[j + 1].rsplit("/", 1)[1] for j, a in enumerate(argv) if a == "--drafts"]
        assert drafts == [f"online-t{t}-s0" for t in ("0_0", "0_2", "0_4", "0_6", "0_8", "1_0")][i::2]
        assert argv[argv.index("--output-dir") + 1].endswith(f"grid-measure-math-s0-online-p{i + 1}of2")


def test_kcurve_measures_every_k_of_the_kd_0_8_drafts(tmp_path):
    (run,) = listing(tmp_path, "kcurve", "--first-seed", "1")
    drafts = [run[i + 1] for i, a in enumerate(run) if a == "--drafts"]
    grid = tmp_path / "state" / "grid" / "math"
    assert drafts == [str(grid / "seqkd-t0_8-s1"), str(grid / "online-t0_8-s1")]
    assert run[run.index("--measure-every-k") + 1] == "true" and run[run.index("--k-max") + 1] == "4"
    assert run.count("--k-max") == 1 and "--compile" in run


def test_measure_takes_each_searchs_finalists_or_every_fixed_candidate_once(tmp_path):
    """Round 4c's search result (SeqKD, serving T 1) and an online one with the same candidates in its own
    folder: finalists by default (files in name order: online first); --arms fixed measures every fixed arm
    of both (the mixtures too), each draft once."""
    import gzip

    from benchmarks import study

    state = tmp_path / "state"
    state.mkdir()
    result = json.loads(gzip.decompress((ROOT / "docs/study/r4c/search_t1_0.json.gz").read_bytes()))
    result["config"]["output_dir"] = str(state / "search")
    (state / "search-t1_0.json").write_text(json.dumps(result))
    online = {**result, "config": {"output_dir": str(state / "search-online")}, "finalists": ["uniform"]}
    (state / "search-online-t1_0.json").write_text(json.dumps(online))
    folder = {c["label"]: c["folder"] for c in result["candidates"]}

    def drafts(*arms: str) -> list[str]:
        return study.search_drafts(study.Study(study.parse_args(["measure", "--state", str(state), *arms])))

    where = state / "search" / "candidates"
    assert drafts() == [str(state / "search-online" / "candidates" / folder["uniform"] / "draft")] + [
        str(where / folder[f] / "draft") for f in result["finalists"]
    ]
    fixed = drafts("--arms", "fixed")
    assert len(fixed) == len(set(fixed)) == 2 * 8  # 6 single T (greedy = T 0), uniform, mix_high_temp
    assert str(where / folder["mix_high_temp"] / "draft") in fixed
    (run,) = listing(tmp_path, "measure", "--arms", "fixed")
    assert run[run.index("--output-dir") + 1] == str(state / "measure-fixed")
    # run for real (evaluate refuses the missing drafts, exit 2): ksweep's drafts.txt lists the finalists,
    # and measuring every fixed arm leaves it as it was
    where = ["--state", str(state), "--out", str(tmp_path / "out"), "--data", str(tmp_path)]
    for arms in ("finalists", "fixed"):
        with pytest.raises(SystemExit) as stop:
            study.main(["measure", "--arms", arms, *where])
        assert stop.value.code == 2
        assert (state / "drafts.txt").read_text().split() == drafts()
    # --part I/N: the parts' runs measure every fixed arm once between them, each at decode T 0 ... 1.0
    parts = []
    for i in (1, 2, 3):
        with pytest.raises(SystemExit):
            study.main(["measure", "--arms", "fixed", "--part", f"{i}/3", *where])
        runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
        argv = shlex.split(runs[f"measure/math/fixed/p{i}of3"]["commands"][0])
        parts.append([argv[j + 1] for j, a in enumerate(argv) if a == "--drafts"])
        assert argv[argv.index("--temperatures") + 1] == "0,0.2,0.4,0.6,0.8,1.0"
        assert argv[argv.index("--output-dir") + 1] == str(state / f"measure-fixed-p{i}of3")
    assert sorted(sum(parts, [])) == sorted(fixed) and [len(p) for p in parts] == [6, 5, 5]


def test_carry_out_then_carry_in_registers_the_same_eval_set_on_a_fresh_state(tmp_path, capsys):
    """carry-out copies each domain's registered eval set (only math here) to OUT/evalsets; carry-in on
    another state imports it: the same name, version and fingerprint, so the grid's builder finds it."""
    from benchmarks import study
    from registry.catalog import Catalog
    from registry.versions import register_build
    from tests.registry.dataset_factory import make_dataset_folder

    first, fresh = tmp_path / "first", tmp_path / "fresh"
    v = register_build(
        make_dataset_folder(tmp_path / "b", name="study_gsm8k_eval"), root=first / "home/registry"
    )
    out = tmp_path / "out"
    assert study.main(["carry-out", "--state", str(first), "--out", str(out)]) == 0
    assert (out / "evalsets/study_gsm8k_eval/v1/manifest.json").is_file()
    assert not (out / "evalsets/study_instr_eval").exists()  # no instruction eval set was sampled
    assert (
        study.main(["carry-in", "--carry", str(out / "evalsets"), "--state", str(fresh), "--out", str(out)])
        == 0
    )
    (got,) = Catalog(fresh / "home/registry").versions()
    assert (got.ref, got.fingerprint) == (v.ref, v.fingerprint)
    with pytest.raises(SystemExit) as stop:  # nothing to carry: said, exit 2
        study.main(["carry-in", "--carry", str(tmp_path / "b"), "--state", str(fresh), "--out", str(out)])
    assert stop.value.code == 2 and "no NAME/vN folders to import" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # no --carry at all: a usage error
        study.main(["carry-in", "--state", str(fresh)])
    assert stop.value.code == 2 and "carry-in needs --carry DIR" in capsys.readouterr().err


def test_merge_unions_runs_by_key(tmp_path):
    for name, key in (("a", "grid/math/s0"), ("b", "grid/math/s1")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"runs": {key: {"rc": 0}}}))
    merged = tmp_path / "merged"
    cmd = [
        sys.executable,
        str(STUDY),
        "merge",
        str(tmp_path / "a/results.json"),
        str(tmp_path / "b/results.json"),
    ]
    subprocess.run([*cmd, "--out", str(merged)], check=True, capture_output=True)
    assert set(json.loads((merged / "results.json").read_text())["runs"]) == {"grid/math/s0", "grid/math/s1"}


def test_a_cold_machine_fails_fast(tmp_path):
    cmd = [
        sys.executable,
        str(STUDY),
        "ksweep",
        "--quick",
        "--out",
        str(tmp_path / "o"),
        "--state",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 3 and "drafts.txt" in proc.stderr


def test_side_by_side_runs_each_job_once_in_its_own_log_and_a_failure_stops_the_rest(tmp_path):
    """--parallel: jobs run `width` at a time (real processes), each logs to OUT/logs/<folder>.log, a done
    job is skipped, the phase records every command; a failing job kills the running ones and exits."""
    args = study.parse_args(["grid", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state")])
    args.out.mkdir(parents=True)
    s = study.Study(args)
    s.start("grid/math/s0")

    def job(name: str, code: str) -> tuple[str, list[str], Path]:
        done = tmp_path / name / "done"
        done.parent.mkdir(exist_ok=True)
        return "python -c", [f"{code}; open({str(done)!r}, 'w').write('x'); print('finished {name}')"], done

    ok = [job(f"d{i}", "import time; time.sleep(0.5)") for i in range(3)]
    (ok[0][2]).write_text("x")  # done already: not run again
    s.run_side_by_side(ok, 2)
    assert len(s.commands) == 2 and all(j[2].exists() for j in ok)
    for name in ("d1", "d2"):
        assert (args.out / "logs" / f"math-{name}.log").read_text().strip() == f"finished {name}"

    slow = job("slow", "import time; time.sleep(60)")
    with pytest.raises(SystemExit) as stop:
        s.run_side_by_side([slow, job("bad", "raise SystemExit(5)")], 2)
    assert stop.value.code == 5 and not slow[2].exists()  # the slow one was killed, not waited for
    entry = json.loads((args.out / "results.json").read_text())["runs"]["grid/math/s0"]
    assert entry["rc"] == 5 and "raise SystemExit(5)" in entry["error"]


def test_online_trainings_resume_from_a_checkpoint_and_seqkd_ones_start_over(tmp_path):
    args = study.parse_args(["grid", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state")])
    s = study.Study(args)
    for mode in ("online", "seqkd"):
        folder = tmp_path / mode
        _, argv, _ = study.train_job(s, mode, 1.0, folder)
        assert "--resume" not in argv  # nothing to resume yet
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "checkpoints" / "step_00000256.pt").write_bytes(b"x")
        _, argv, _ = study.train_job(s, mode, 1.0, folder)
        assert ("--resume" in argv) == (mode == "online")
        assert ("run.checkpoint_every=256" in argv) == (mode == "online")


def test_gpus_spread_side_by_side_jobs_round_robin(tmp_path):
    args = study.parse_args(
        ["grid", "--gpus", "3,3,5", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state")]
    )
    args.out.mkdir(parents=True)
    s = study.Study(args)
    s.start("grid/math/s0")
    jobs = []
    for i in range(4):
        done = tmp_path / f"d{i}" / "done"
        done.parent.mkdir()
        code = f"import os; open({str(done)!r}, 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])"
        jobs.append(("python -c", [code], done))
    s.run_side_by_side(jobs, 4)
    assert [job[2].read_text() for job in jobs] == ["3", "3", "5", "3"]


def test_sigterm_kills_the_side_by_side_jobs(tmp_path):
    """What a device call's `timeout` does: SIGTERM to the driver; its trainings (own process groups, which
    the signal does not reach) must not keep running unseen."""
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from benchmarks import study
study.exit_on_sigterm()
args = study.parse_args(["grid", "--out", {str(tmp_path / "out")!r}, "--state", {str(tmp_path / "state")!r}])
args.out.mkdir(parents=True)
s = study.Study(args)
s.start("grid/math/s0")
code = "import os, time; open(os.path.join({str(pids)!r}, str(os.getpid())), 'w').close(); time.sleep(120)"
s.run_side_by_side([("python -c", [code], Path({str(tmp_path)!r}) / f"d{{i}}" / "done") for i in range(2)], 2)
"""
    proc = subprocess.Popen([sys.executable, "-c", driver])
    deadline = time.time() + 60
    while len(list(pids.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.2)
    children = [int(p.name) for p in pids.iterdir()]
    assert len(children) == 2, "the jobs did not start"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped by the driver


def test_study_curves_draws_every_drafts_held_out_curve(tmp_path):
    from benchmarks import study_curves

    def card(mode: str, kd: float, alphas: list[float], best: int) -> dict:
        curve = [{"step": 32 * i, "acceptance": {f"{kd:g}": a}} for i, a in enumerate(alphas)]
        return {"mode": mode, "kd_temperature": kd, "eval": {"curve": curve}, "training": {"best_step": best}}

    drafts = {
        "online-t1_0-s0": card("online", 1.0, [0.1, 0.4, 0.5, 0.49], 64),
        "seqkd-t0_0-s0": card("seqkd", 0.0, [0.1, 0.5, 0.6], 64),
    }
    runs = tmp_path / "results.json"
    runs.write_text(json.dumps({"runs": {"grid/math/s0": {"outputs": {"drafts": drafts}}}}))
    png = tmp_path / "curves.png"
    assert study_curves.main([str(runs), "grid/math/s0", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert study_curves.curves(drafts, "t", tmp_path / "again.png") == ["online-t1_0-s0", "seqkd-t0_0-s0"]
    with pytest.raises(SystemExit, match="no grid run with draft cards"):
        study_curves.main([str(runs), "grid/math/s9", "--out", str(png)])


def test_study_measured_holds_each_cell_against_the_prediction_at_the_k_run(tmp_path, capsys):
    from benchmarks import study_grid, study_measured

    path = ROOT / "docs/study/r4e/measure_online_s1.json.gz"  # a compiled grid-measure run (H200)
    assert study_measured.main([str(path), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for png in ("heatmap_kd_vs_decode_temperature.png", "measured_vs_predicted.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    (draft,) = [d for d in study_grid.read(path)["drafts"] if d["name"] == "online-t0_8-s1"]
    (hot,) = [r for r in draft["results"] if r["temperature"] == 1.0]
    assert hot["k_auto"]["chosen_k"] == 0 and hot["k"] == 1  # "do not speculate", measured at k = 1
    (at_k1,) = [c for c in hot["k_auto"]["curve"] if c["k"] == 1]
    row = next(
        line for line in text.split("Measured / predicted")[1].splitlines() if "online-t0_8-s1" in line
    )
    assert row.split(" | ")[-1].startswith(f"{hot['speedup'] / at_k1['predicted_speedup']:.2f} (")
    assert f"**{hot['speedup']:.2f}×** k 1 (auto 0)" in text  # above 1: bold


def test_study_measured_bolds_by_the_interval_when_the_run_has_one(tmp_path, capsys):
    """A run with measured intervals (evaluate since round 4f): a cell above 1x whose interval reaches below
    1 is printed with its interval and not bold; one whose interval is above 1 is bold."""
    from benchmarks import study_grid, study_measured

    results = study_grid.read(ROOT / "docs/study/r4e/measure_online_s1.json.gz")
    (draft,) = [d for d in results["drafts"] if d["name"] == "online-t0_8-s1"]
    by_t = {r["temperature"]: r for r in draft["results"]}
    hot, cool = by_t[1.0], by_t[0.0]  # measured 1.01x and 1.29x
    hot |= {"speedup_low": 0.97, "speedup_high": 1.05}
    cool |= {"speedup_low": 1.2, "speedup_high": 1.35}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    assert study_measured.main([str(path), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"| {hot['speedup']:.2f}× [0.97, 1.05] k 1 (auto 0) |" in text
    assert f"| **{cool['speedup']:.2f}× [1.20, 1.35]** k 3 |" in text


def test_study_measured_puts_the_parts_of_a_measurement_in_one_table(tmp_path, capsys):
    """`study.py measure --part I/N` leaves one results.json per part: given them all, study_measured prints
    the same tables as for the whole run."""
    from benchmarks import study_grid, study_measured

    path = ROOT / "docs/study/r4e/measure_online_s1.json.gz"
    assert study_measured.main([str(path), "--out", str(tmp_path / "whole")]) == 0
    whole = capsys.readouterr().out
    results = study_grid.read(path)
    parts = []
    for i in (0, 1):
        part = tmp_path / f"p{i}.json"
        part.write_text(json.dumps({**results, "drafts": results["drafts"][i::2]}))
        parts.append(str(part))
    assert study_measured.main([*parts, "--out", str(tmp_path / "parts")]) == 0
    assert capsys.readouterr().out == whole and len(results["drafts"]) == 6
    other = tmp_path / "other.json"  # a run at other temperatures is not a part of this one
    other.write_text(json.dumps({**results, "config": {**results["config"], "temperatures": [0.0]}}))
    with pytest.raises(SystemExit, match="another target, prompts or settings"):
        study_measured.main([parts[0], str(other), "--out", str(tmp_path / "parts")])
