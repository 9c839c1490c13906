"""`python -m evaluate`: a real sweep on the tiny models writes JSON/Markdown/PNG; bad configs exit 2."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evaluate.cli import main
from evaluate.drafts import save_truncated_draft
from evaluate.report import predicted_at_run
from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def dataset(tmp_path, tiny_pair, tiny_prompts, tiny_teacher_dir) -> Path:
    """A built-dataset folder as builders/ writes it: manifest + data/t1_0/validation-*.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target, _, tokenizer = tiny_pair
    sampler = AutoregressiveDecoder(target, [tokenizer.eos_token_id], max_len=512)
    rows = []
    for i, prompt in enumerate(tiny_prompts[:3]):
        response = sampler.generate(prompt, 12, 1.0, torch.Generator().manual_seed(i)).tokens
        rows.append(
            {
                "prompt_id": f"p{i}",
                "source": "gsm8k",
                "prompt": "q",
                "messages": [{"role": "user", "content": "q"}],
                "prompt_token_ids": prompt,
                "response": tokenizer.decode(response),
                "response_token_ids": response,
                "temperature": 1.0,
                "top_p": 1.0,
                "seed": i,
                "sample_index": 0,
                "finish_reason": "length",
                "num_tokens": len(response),
            }
        )
    folder = tmp_path / "ds"
    rel = "data/t1_0/validation-00000-of-00001.parquet"
    (folder / rel).parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / rel)
    # The fields the registry checks on resolve: name, fingerprint, and a sha256 for every shard.
    manifest = {
        "name": "tiny-eval",
        "fingerprint": "test-fixture",
        "teacher": {"path": str(tiny_teacher_dir)},
        "files": {rel: hashlib.sha256((folder / rel).read_bytes()).hexdigest()},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_run_writes_results_table_and_plots(tmp_path, tiny_teacher_dir, dataset, monkeypatch):
    swaps = []
    real_swap = SpeculativeDecoder.swap_draft
    monkeypatch.setattr(
        SpeculativeDecoder, "swap_draft", lambda self, d: swaps.append(1) or real_swap(self, d)
    )
    draft = save_truncated_draft(tiny_teacher_dir, 2, tmp_path / "draft")
    card = json.loads((draft / "tempdraft-draft.json").read_text())
    (draft / "tempdraft-draft.json").write_text(json.dumps({**card, "name": "first2", "kd_temperature": 1.0}))
    # The same weights under a second name: the sweep swaps them into its existing decoder (same
    # architecture), which must reproduce the first draft's seeded generations exactly.
    twin = Path(shutil.copytree(draft, tmp_path / "twin"))
    (twin / "tempdraft-draft.json").write_text(json.dumps({**card, "name": "twin", "kd_temperature": 1.0}))
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--target",
            str(tiny_teacher_dir),
            "--drafts",
            f"{draft},{twin}",
            "--prompts",
            str(dataset),
            "--temperatures",
            "0,1",
            "--k",
            "2",
            "--max-new-tokens",
            "8",
            "--num-prompts",
            "2",
            "--threads",
            "1",
            "--baselines",
            "assisted",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["command"].startswith("python -m evaluate run --target")
    assert {"target alone", "speculative sampler", "baseline: assisted generation"} <= set(
        results["phase_seconds"]
    )
    assert results["environment"]["versions"]["torch"] and results["environment"]["device_name"]
    assert results["prompts"]["count"] == 2
    assert str(tmp_path) not in (out / "results.json").read_text()  # shared as is: folder names, no paths
    assert str(tiny_teacher_dir) not in (out / "results.json").read_text() + json.dumps(card)
    d, d_twin = results["drafts"]
    assert len(swaps) == 1  # the twin reused the first draft's decoder (counted, then the real swap ran)
    assert (d["name"], d["kd_temperature"], d_twin["name"]) == ("first2", 1.0, "twin")
    for r, r_twin in zip(d["results"], d_twin["results"], strict=True):
        assert (r["alpha"], r["block_efficiency"]) == (r_twin["alpha"], r_twin["block_efficiency"])
    by_t = {r["temperature"]: r for r in d["results"]}
    assert set(by_t) == {0.0, 1.0}
    for r in by_t.values():
        assert 0 <= r["alpha"] <= 1 and r["block_efficiency"] >= 1 and r["speedup"] > 0
        assert r["assisted"]["tokens"] > 0
    assert by_t[1.0]["analytic"]["source"] == "dataset"  # the dataset has T=1 teacher samples
    assert by_t[0.0]["analytic"]["source"] == "target-alone outputs"  # and none at T=0
    table = (out / "results.md").read_text()
    assert "| first2 | 1 | 0 |" in table and "| first2 | 1 | 1 |" in table
    for png in ("speedup_vs_temperature", "alpha_vs_temperature", "heatmap_kd_vs_decode_temperature"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    for r in d["results"]:  # the target alone timed beside the sampler, not the sweep's first pass
        assert r["baseline_timing"] == "interleaved"
        assert r["target_s_per_token"] != results["target_alone"][f"{r['temperature']:g}"]["s_per_token"]
    assert "re-run beside each sampler run, prompt by prompt" in table
    for r in d["results"]:  # a fixed k: no curve, so the formula with the run's own verify cost
        assert predicted_at_run(r)[0] == r["predicted_speedup_with_verify_cost"] != r["predicted_speedup"]
        assert f"| {r['predicted_speedup_with_verify_cost']:.2f}× | " in table


def test_k_auto_picks_k_per_temperature_and_plots_the_curve(tmp_path, tiny_teacher_dir, dataset, capsys):
    """k: auto on a draft without a KD temperature (a mixture): curve, chosen k, k_curve.png, heatmap row."""
    draft = save_truncated_draft(tiny_teacher_dir, 2, tmp_path / "mix")
    (draft / "tempdraft-draft.json").write_text(json.dumps({"name": "mixture"}))
    out = tmp_path / "out"
    args = ["run", "--target", str(tiny_teacher_dir), "--drafts", str(draft), "--prompts", str(dataset)]
    args += ["--temperatures", "0,1", "--k", "auto", "--k-max", "3", "--max-new-tokens", "8"]
    args += ["--num-prompts", "4", "--threads", "1", "--probe-rounds", "2", "--measure-every-k", "true"]
    args += ["--output-dir", str(out), "--baseline-timing", "once"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "sweep ETA" in err and "[evaluate] phase costs: " in err
    assert "holds 3 prompt(s), fewer than num_prompts 4; evaluating 3" in err  # the split has 3, said once
    results = json.loads((out / "results.json").read_text())
    (d,) = results["drafts"]
    assert d["cost_probe"]["compiled"] is False and set(d["cost_probe"]["verify_cost"]) == {"1", "2", "3"}
    # greedy and sampling steps are priced by their own probe (the sampled one is also `cost_probe`)
    assert set(d["cost_probes"]) == {"0", "1"} and d["cost_probe"] == d["cost_probes"]["1"]
    assert [d["cost_probes"][p]["rounds"] for p in ("0", "1")] == [2, 2]  # --probe-rounds (default 5)
    assert [d["cost_probes"][p]["temperature"] for p in ("0", "1")] == [0.0, 1.0]
    for r in d["results"]:
        auto = r["k_auto"]
        probe = d["cost_probes"]["0" if r["temperature"] == 0 else "1"]
        assert [c["k"] for c in auto["curve"]] == [1, 2, 3] and auto["c"] == probe["c"]
        best = max(auto["curve"], key=lambda c: c["predicted_speedup"])
        assert auto["chosen_k"] == (best["k"] if best["predicted_speedup"] > 1 else 0)
        assert r["k"] == max(auto["chosen_k"], 1)  # k = 0 ("do not speculate") is still measured at k = 1
        assert r["analytic"]["chained"]["k"] == r["k"]
        assert all(c["low"] <= c["tokens_per_call"] <= c["high"] for c in auto["curve"])
        # the report holds the measurement against the curve at the k the sampler ran, even when auto said 0
        value, low, high, which = predicted_at_run(r)
        ran = next(c for c in auto["curve"] if c["k"] == r["k"])
        assert (value, low, high) == (
            ran["predicted_speedup"],
            ran["predicted_speedup_low"],
            ran["predicted_speedup_high"],
        )
        assert low <= value <= high and which.startswith("k: auto")
        # --measure-every-k: the sampler ran at every k of the curve; the chosen k's run is the row's
        assert ran["measured_speedup"] == r["speedup"] and all(
            c["measured_speedup"] > 0 for c in auto["curve"]
        )
        # --baseline-timing once: every speedup against the sweep's first target-alone pass
        alone = results["target_alone"][f"{r['temperature']:g}"]
        assert r["baseline_timing"] == "once" and r["speedup"] == pytest.approx(
            alone["s_per_token"] / r["s_per_token"]
        )
        # each measured speedup has its 95% interval over the 3 prompts (the row's and every k's)
        assert r["speedup_low"] <= r["speedup"] <= r["speedup_high"]
        assert (ran["measured_speedup_low"], ran["measured_speedup_high"]) == (
            r["speedup_low"],
            r["speedup_high"],
        )
        for c in auto["curve"]:
            assert c["measured_speedup_low"] <= c["measured_speedup"] <= c["measured_speedup_high"]
        for other in {1, 2, 3} - {r["k"]}:  # its progress lines name each extra run
            assert f"'mixture' k={other} T={r['temperature']:g}: prompt 3/3" in err
    assert "assisted" not in d["results"][0]  # baselines are opt-in
    table = (out / "results.md").read_text()
    assert "(auto: " in table
    for r in d["results"]:  # results.md prints the prediction the PNG draws, and measured over it
        value, low, high, _ = predicted_at_run(r)
        measured = f"{r['speedup']:.2f}× [{r['speedup_low']:.2f}, {r['speedup_high']:.2f}]"
        assert f"| {measured} | {value:.2f}× [{low:.2f}, {high:.2f}] | {r['speedup'] / value:.2f} |" in table
    for png in ("k_curve", "heatmap_kd_vs_decode_temperature", "heatmap_alpha_kd_vs_decode_temperature"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_every_priced_k_is_measured_and_the_progress_total_is_exact(
    tmp_path, tiny_teacher_dir, dataset, capsys
):
    """measure_every_k measures the k's the probe priced (max_new_tokens 4 leaves room for k <= 2 of k_max
    4), and the sweep's total counts them and the assisted baseline's runs at one k each."""
    draft = save_truncated_draft(tiny_teacher_dir, 2, tmp_path / "d")
    out = tmp_path / "out"
    args = ["run", "--target", str(tiny_teacher_dir), "--drafts", str(draft), "--prompts", str(dataset)]
    args += [
        "--temperatures",
        "1",
        "--k",
        "auto",
        "--k-max",
        "4",
        "--max-new-tokens",
        "4",
        "--num-prompts",
        "2",
    ]
    args += ["--threads", "1", "--probe-rounds", "1", "--measure-every-k", "true", "--baselines", "assisted"]
    assert main([*args, "--output-dir", str(out)]) == 0
    err = capsys.readouterr().err
    ((r,),) = [d["results"] for d in json.loads((out / "results.json").read_text())["drafts"]]
    assert [c["k"] for c in r["k_auto"]["curve"]] == [1, 2] and all(
        "measured_speedup" in c for c in r["k_auto"]["curve"]
    )
    # 2 prompts x (target alone + the draft at k = 1 and 2, each with the target alone beside it, +
    # transformers generate and assisted generation at one k); the sampler's lines print the count, the
    # baselines advance it silently
    assert set(re.findall(r"\(\d+/(\d+) prompt runs\)", err)) == {"14"}
    assert "(12/14 prompt runs)" in err


def test_help_shows_defaults_and_allowed_values(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "[allowed: assisted, vllm; default: []]" in text
    assert "[allowed: an int, auto; default: 4]" in text
    assert '[allowed: dynamic, static; default: "dynamic"]' in text and "[required]" in text


def test_bad_config_exits_2_naming_every_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "target: t\ndrafts: []\nprompts: p.jsonl\noutput_dir: o\nk: 0\ntemperatures: [0.5, 3]\n"
        "max_new_token: 5\ndtype: fp8\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "evaluate", "validate", str(bad)], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for path in ("drafts:", "k:", "temperatures:", "max_new_token:", "dtype:"):
        assert f"  - {path}" in proc.stderr, proc.stderr
    assert "(got 3" not in proc.stderr or "temperatures" in proc.stderr


def test_missing_files_are_reported_together(tmp_path, capsys):
    code = main(
        [
            "validate",
            "--target",
            str(tmp_path / "nope"),
            "--drafts",
            str(tmp_path),
            "--prompts",
            str(tmp_path / "missing.jsonl"),
            "--output-dir",
            str(tmp_path / "o"),
            "--compile",
            "true",
            "--measure-every-k",
            "true",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    for path in ("target:", "drafts.0:", "prompts:", "compile:", "measure_every_k:"):
        assert f"  - {path}" in err, err
