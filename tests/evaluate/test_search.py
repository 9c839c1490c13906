"""The recipe search end to end on tiny real models: pool -> candidates -> drafts -> winner -> recipe.

The pool is sampled at T = 0 and T = 2.0 from the tiny teacher. T = 2 samples from this model are close to
uniform noise, so for serving at T = 0 (greedy) a draft trained on them learns nothing about the teacher's
argmax: by construction the best mixture puts its weight on T = 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evaluate.cli import main
from tests.distill.conftest import base_config
from tests.distill.tiny_dataset import build_tiny_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_teacher, shared_data) -> Path:
    out = tmp_path_factory.mktemp("search_pool") / "pool"
    return build_tiny_dataset(
        out,
        tiny_teacher,
        shared_data,
        [0.0, 2.0],
        prompts=60,
        samples=1,
        max_new_tokens=40,
        topk=0,
        name="tiny-pool",
    )


def write_search(tmp: Path, pool_dir: Path, teacher: Path, **over) -> Path:
    distill = tmp / "distill.yaml"
    distill.write_text(yaml.safe_dump(base_config(pool_dir, teacher, tmp / "unused")))
    cfg = {
        "pool": str(pool_dir),
        "serving": {"temperatures": {0.0: 1}},
        "distill": str(distill),
        "budget": {"candidates": 4, "max_steps": 30, "train_rows": 48, "eval_prompts": 6},
        "k_max": 4,
        "c": "auto",
        "name": "tiny_searched",
        "output_dir": str(tmp / "search"),
        **over,
    }
    path = tmp / "search.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_search_finds_the_mixture_known_by_construction(tmp_path, monkeypatch, pool, tiny_teacher):
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    config = write_search(tmp_path, pool, tiny_teacher)
    assert main(["search", str(config)]) == 0
    out = tmp_path / "search"
    summary = json.loads((out / "search.json").read_text())
    by_label = {r["label"]: r for r in summary["candidates"]}
    assert len(summary["candidates"]) == 4
    assert {"greedy SeqKD (T=0)", "single T=2", "uniform"} <= set(by_label)
    assert any("mix_high_temp not composable" in n for n in summary["notes"])
    greedy, noise = by_label["greedy SeqKD (T=0)"]["search"], by_label["single T=2"]["search"]
    assert greedy["objective"] > noise["high"]  # outside the noise draft's interval, not just above its mean
    winner = by_label[summary["winner"]]
    assert winner["weights"].get("0", 0.0) >= 0.5
    assert winner["search"]["objective"] == max(r["search"]["objective"] for r in summary["candidates"])
    assert "confirm" in winner and "confirm" in by_label["greedy SeqKD (T=0)"]
    for name in ("candidates.png", "search.md", "recipe.yaml", "draft/config.json"):
        assert (out / name).is_file(), name
    assert summary["published"]["dataset"].startswith("tiny_searched@v")

    # The written recipe composes from the pool without sampling: its mixture holds the winner's shares.
    from builders.build import run_build
    from builders.recipe import Recipe

    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    built = run_build(
        Recipe.model_validate({**recipe, "output": {"dir": str(tmp_path / "again")}}),
        tmp_path,
        "python -m builders run recipe.yaml",
    )
    import polars as pl

    rows = pl.read_parquet(list((built.path / "data" / "mixture").glob("*.parquet")))
    share0 = (rows["temperature"] == 0.0).mean()
    assert share0 == pytest.approx(winner["weights"].get("0", 0.0), abs=0.05)

    # A rerun resumes: every candidate's result is reused (scored with the saved c), nothing is trained again.
    assert (out / "cost_probe.json").is_file() and summary["c"] > 0
    logs = {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/log.txt")}
    results = {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/result.json")}
    assert main(["search", str(config)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/log.txt")} == logs
    assert {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/result.json")} == results
    assert json.loads((out / "search.json").read_text())["c"] == summary["c"]

    # A result.json written before per-prompt sums (and seeds) existed is scored again, not trained again.
    old = out / "candidates" / by_label["single T=2"]["folder"] / "result.json"
    stored = json.loads(old.read_text())
    for key in ("seed", "confirm"):
        stored.pop(key, None)
    for per_t in stored["search"]["per_temperature"]:
        del per_t["per_prompt"]
    old.write_text(json.dumps(stored))
    assert main(["search", str(config)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/log.txt")} == logs
    assert "per_prompt" in json.loads(old.read_text())["search"]["per_temperature"][0]

    # Another serving temperature in the same output_dir scores the trained drafts again without training
    # them again (the optimizer's proposals may differ: they follow the new scores).
    assert main(["search", str(config), "--set", "serving.temperatures={2.0: 1}"]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in logs.items())
    again = json.loads((out / "search.json").read_text())
    assert again["serving"] == {"2": 1.0}
    fixed = {r["folder"] for r in summary["candidates"] if r["origin"] == "fixed"}
    assert fixed <= {r["folder"] for r in again["candidates"]}


def test_seeds_train_each_candidate_once_per_seed_and_compare_paired(
    tmp_path, monkeypatch, capsys, pool, tiny_teacher
):
    """seeds: [0, 1] -> two distinct drafts per candidate, objective = their mean, paired differences from
    greedy SeqKD and the best single temperature; a rerun trains and scores nothing again."""
    from safetensors.torch import load_file

    from evaluate.search.candidates import fixed_candidates
    from evaluate.search.config import load_config
    from evaluate.search.trial import candidate_key

    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    budget = {"candidates": 3, "max_steps": 8, "train_rows": 48, "eval_prompts": 6}
    config = write_search(tmp_path, pool, tiny_teacher, seeds=[0, 1], budget=budget, register_winner=False)
    assert main(["search", str(config)]) == 0
    out = tmp_path / "search"
    summary = json.loads((out / "search.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert summary["baselines"] == {
        "greedy": "greedy SeqKD (T=0)",
        "best_single": summary["baselines"]["best_single"],
    }
    for r in summary["candidates"]:
        reps = r["replicates"]
        assert [x["seed"] for x in reps] == [0, 1] and r["folder"] == reps[0]["folder"] != reps[1]["folder"]
        assert r["search"]["objective"] == pytest.approx(sum(x["search"]["objective"] for x in reps) / 2)
        a, b = (load_file(out / "candidates" / x["folder"] / "draft" / "model.safetensors") for x in reps)
        assert any(not a[name].equal(b[name]) for name in a), r["label"]  # the seeds trained different drafts

    # Seed 0's folder is the folder a one-seed search (seed: 0) trains: its drafts are reused.
    plain = load_config(config, ["seeds=null"])
    assert plain.replicate_seeds() == [0]
    greedy_c = fixed_candidates(summary["grid"])[0][0]
    by_label = {r["label"]: r for r in summary["candidates"]}
    greedy = by_label["greedy SeqKD (T=0)"]
    assert greedy["folder"] == candidate_key(plain, greedy_c, summary["pool"], 0)

    # Paired: a baseline against itself is exactly 0 with a zero-width interval; every candidate has both.
    assert greedy["paired"]["search"]["greedy"] == {
        "baseline": "greedy SeqKD (T=0)",
        "relative": 0.0,
        "low": 0.0,
        "high": 0.0,
    }
    for r in summary["candidates"]:
        for p in r["paired"]["search"].values():
            assert p["low"] <= p["high"]
    noise = by_label["single T=2"]["paired"]["search"]["greedy"]
    assert noise["relative"] < 0 and noise["high"] < 0  # the T=2 noise draft is slower than greedy, surely
    winner = by_label[summary["winner"]]
    assert set(winner["paired"]["confirm"]) == {"greedy", "best_single"}
    md = (out / "search.md").read_text()
    assert "vs greedy SeqKD (T=0) (paired, search)" in md and f"Winner {winner['label']}: " in md
    assert "[search] Winner" in capsys.readouterr().err

    # A rerun reuses every seed's draft and score.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/*.*")}
    assert len(list((out / "candidates").iterdir())) == 6
    assert main(["search", str(config)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/*.*")} == stamps


def test_an_online_kd_search_trains_online_drafts_and_names_its_baseline_so(
    tmp_path, monkeypatch, pool, tiny_teacher
):
    """distill: an online config -> every candidate trains by online KD against the live teacher; the T = 0
    candidate is greedy online KD (not 'greedy SeqKD'), and search.md says how the drafts trained."""
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    budget = {"candidates": 3, "max_steps": 6, "train_rows": 48, "eval_prompts": 6}
    config = write_search(tmp_path, pool, tiny_teacher, budget=budget, register_winner=False)
    online = tmp_path / "online.yaml"
    online.write_text(yaml.safe_dump(base_config(pool, tiny_teacher, tmp_path / "unused", "online")))
    assert main(["search", str(config), "--set", f"distill={online}"]) == 0
    out = tmp_path / "search"
    summary = json.loads((out / "search.json").read_text())
    assert summary["kd"] == "online" and summary["baselines"]["greedy"] == "greedy online KD (T=0)"
    for r in summary["candidates"]:
        card = json.loads((out / "candidates" / r["folder"] / "draft" / "tempdraft-draft.json").read_text())
        assert card["mode"] == "online" and card["loss_temperature"] == 1.0, r["label"]
    md = (out / "search.md").read_text()
    assert "drafts trained by online KD" in md.splitlines()[0]
    assert "vs greedy online KD (T=0) (paired, search)" in md


def test_parallel_trainings_train_the_seeds_at_once_into_the_same_drafts(
    tmp_path, monkeypatch, pool, tiny_teacher
):
    """parallel_trainings: 2 trains both seeds of each candidate in spawned processes (the parent finds
    every draft trained), and those drafts are the ones an in-process training of the same trial gives."""
    import concurrent.futures

    from safetensors.torch import load_file

    import evaluate.search.runner as runner
    from evaluate.search.candidates import Candidate
    from evaluate.search.config import load_config
    from evaluate.search.trial import Trial, run_trial

    jobs: list[tuple[str, int]] = []

    class Spy(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn, cfg, trial, *args):
            jobs.append((trial.candidate.label, trial.seed))
            return super().submit(fn, cfg, trial, *args)

    def trained_already(cfg, trial, pool_id):  # the parent's own call: the workers have trained it
        assert (trial.draft / "tempdraft-draft.json").is_file(), trial.folder
        return run_trial(cfg, trial, pool_id)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Spy)
    monkeypatch.setattr(runner, "run_trial", trained_already)
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    budget = {"candidates": 3, "max_steps": 8, "train_rows": 48, "eval_prompts": 6}
    config = write_search(
        tmp_path, pool, tiny_teacher, seeds=[0, 1], budget=budget, register_winner=False, parallel_trainings=2
    )
    assert main(["search", str(config)]) == 0
    summary = json.loads((tmp_path / "search" / "search.json").read_text())
    assert sorted(jobs) == sorted((r["label"], s) for r in summary["candidates"] for s in (0, 1))

    cfg = load_config(config)
    noise = next(r for r in summary["candidates"] if r["label"] == "single T=2")
    rep = noise["replicates"][1]
    again = Trial(Candidate(noise["label"], {2.0: 1.0}, "fixed"), tmp_path / "in-process", rep["seed"])
    in_process = load_file(run_trial(cfg, again, summary["pool"]) / "model.safetensors")
    spawned = load_file(tmp_path / "search" / "candidates" / rep["folder"] / "draft" / "model.safetensors")
    assert in_process.keys() == spawned.keys()
    assert all(in_process[name].equal(spawned[name]) for name in spawned)


def test_a_trial_in_training_elsewhere_is_waited_for(tmp_path, monkeypatch, capsys, pool, tiny_teacher):
    """While another process holds a trial's .train.lock (it trains there), run_trial on that trial waits
    and writes nothing into the folder; once the lock is free it composes and trains."""
    import subprocess
    import sys

    from evaluate.search.candidates import Candidate
    from evaluate.search.config import load_config
    from evaluate.search.trial import Trial

    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    budget = {"candidates": 3, "max_steps": 4, "train_rows": 48, "eval_prompts": 6}
    cfg = load_config(write_search(tmp_path, pool, tiny_teacher, budget=budget, register_winner=False))
    trial = Trial(Candidate("single T=0", {0.0: 1.0}, "fixed"), tmp_path / "trial", 0)
    trial.folder.mkdir()
    hold = "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
    hold += "print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(trial.folder / ".train.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    try:
        waited_then_trained(cfg, trial, str(pool), holder)
    finally:
        holder.kill()
        holder.wait()
    assert "another process trains it; waiting" in capsys.readouterr().err


def waited_then_trained(cfg, trial, pool_id: str, holder) -> None:
    import threading

    from evaluate.search.trial import run_trial

    errors: list[BaseException] = []

    def train() -> None:
        try:
            run_trial(cfg, trial, pool_id)
        except BaseException as e:  # noqa: BLE001  (reported by the assertion below)
            errors.append(e)

    waiter = threading.Thread(target=train, daemon=True)
    waiter.start()
    waiter.join(timeout=3)
    assert waiter.is_alive() and not (trial.folder / "log.txt").exists()  # opened only under the lock
    holder.communicate("")  # the other training ends: its process exits, the lock is free
    waiter.join(timeout=300)
    assert not waiter.is_alive() and not errors and (trial.draft / "tempdraft-draft.json").is_file()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"serving": {"temperatures": {0.5: 1}}}, "serving.temperatures.0.5: 0.5 is not in the pool's grid"),
        ({"budget": {"candidates": 2, "train_rows": 48}}, "budget.candidates: 2 is fewer than the 3 fixed"),
        ({"pool": "/nonexistent/pool"}, "pool:"),
        ({"budget": {"candidates": 4, "bogus": 1}}, "budget.bogus"),
        ({"budget": {"candidates": 4, "train_rows": 500}}, "budget.train_rows: 500 exceeds the"),
        ({"distill_overrides": ["optim.lr=-1"]}, "distill_overrides: optim.lr:"),
        ({"seeds": []}, "seeds: List should have at least 1 item"),
        ({"seeds": [0, 1, 0]}, "seeds: seeds must be distinct"),
        ({"seeds": [0, -1]}, "seeds.1: Input should be greater than or equal to 0"),
        ({"seeds": 3}, "seeds: Input should be a valid list"),
    ],
)
def test_bad_search_configs_exit_2_with_the_field(
    tmp_path, monkeypatch, capsys, pool, tiny_teacher, override, expected
):
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    config = write_search(tmp_path, pool, tiny_teacher, **override)
    assert main(["search", str(config)]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "search").exists()  # nothing written


def test_pool_without_validation_split_is_refused(tmp_path, monkeypatch, capsys, tiny_teacher, shared_data):
    bare = build_tiny_dataset(
        tmp_path / "bare",
        tiny_teacher,
        shared_data,
        [0.0, 1.0],
        prompts=6,
        samples=1,
        max_new_tokens=4,
        topk=0,
        name="bare-pool",
        validation_fraction=0.0,
    )
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    config = write_search(tmp_path, bare, tiny_teacher)
    assert main(["search-validate", str(config)]) == 2
    assert "has no 'validation' split" in capsys.readouterr().err
