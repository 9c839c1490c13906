"""Bad configs: every problem at once, with its dotted field path, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distill.__main__ import main
from distill.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_configs_are_valid():
    configs = sorted((ROOT / "distill" / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        assert path.read_text().startswith("# python -m distill train distill/configs/"), path
        load_config(path)


@pytest.mark.parametrize(
    ("change", "paths"),
    [
        ({"loss": {"mode": "sqkd"}}, ["loss.mode"]),
        ({"loss": {"mode": "online", "divergence": "js", "beta": 1.5}}, ["loss.divergence", "loss.beta"]),
        ({"loss": {"mode": "seqkd", "temperature": 0.7}}, ["loss"]),
        ({"loss": {"mode": "seqkd", "divergence": "rkl"}}, ["loss"]),  # would be silently ignored
        ({"loss": {"mode": "online", "divergence": "fkl", "beta": 0.3}}, ["loss"]),
        (
            {"optim": {"lr": -1, "batch_size": 0, "max_steps": 3}},
            ["optim.lr", "optim.batch_size"],
        ),
        (
            {"optim": {"max_steps": 3, "epochs": 1}},  # model-level rule: checked once the fields are valid
            ["optim"],
        ),
        ({"draft": {"init": "first_n_layers"}}, ["draft.num_layers"]),
        ({"draft": {"init": "distil"}}, ["draft"]),
        ({"run": {"output_dir": "x", "precison": "bf16"}}, ["run.precison"]),
        (
            {"run": {"output_dir": "x", "early_stopping": {"patience": 3}}},
            ["run.eval_split", "run.eval_every"],
        ),
        ({"run": {"output_dir": "x", "eval_every": 10}}, ["run.eval_every"]),  # scores no split
        (
            {"run": {"output_dir": "x", "early_stopping": {"patience": 0, "min_delta": -1}}},
            ["run.early_stopping.patience", "run.early_stopping.min_delta"],
        ),
        ({"run": {"output_dir": "x", "early_stopping": {"temperature": 0.7}}}, ["run.early_stopping"]),
        ({"run": {"output_dir": "x", "save_dtype": "fp8"}}, ["run.save_dtype"]),
        ({"run": {"output_dir": "x", "parallel": "deepspeed"}}, ["run.parallel"]),
        ({"run": {"output_dir": "x", "parallel": "fsdp", "checkpoint_every": 5}}, ["run.checkpoint_every"]),
        ({"datset": {}}, ["datset"]),
    ],
)
def test_schema_errors_name_every_field(change, paths, tmp_path, capsys, write_config):
    data = yaml.safe_load(write_config().read_text())
    data.update(change)
    assert main(["validate", str(write(tmp_path, data))]) == 2
    err = capsys.readouterr().err
    for path in paths:
        assert f"  - {path}:" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("overrides", "path", "words"),
    [
        (["dataset.id=/nonexistent/ds"], "dataset.id", "no dataset"),
        (["dataset.config=t0_5"], "dataset.config", "available"),
        (["dataset.split=test"], "dataset.split", "no 'test' files"),
        (["loss.mode=topk", "loss.temperature=1.0"], "loss.temperature", "cannot be re-tempered"),
        (["draft.num_layers=9"], "draft.num_layers", "only 4 layers"),
        (["run.eval_split=dev"], "run.eval_split", "no 'dev' files"),
    ],
)
def test_dataset_and_draft_problems(overrides, path, words, write_config, capsys):
    args = ["validate", str(write_config())]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"  - {path}:" in err and words in err, err


def test_validate_accepts_a_good_config(write_config, capsys):
    assert main(["validate", str(write_config("topk", loss={"mode": "topk", "divergence": "jsd"}))]) == 0
    assert "ok (topk on 64 rows" in capsys.readouterr().out


def test_cli_exit_code_without_traceback(tmp_path):
    path = write(tmp_path, {"dataset": {"id": "x"}, "loss": {"mode": "nope"}})
    proc = subprocess.run(
        [sys.executable, "-m", "distill", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    for field in ("loss.mode", "teacher", "draft", "optim", "run"):
        assert f"  - {field}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_set_training_length_replaces_the_other(write_config, capsys):
    # The config gives epochs; `--set optim.max_steps=N` means "N steps instead" (as max_steps
    # overrides num_train_epochs in transformers), not "both".
    path = write_config(optim={"max_steps": None, "epochs": 1})
    assert load_config(path, ["optim.max_steps=30"]).optim.epochs is None
    assert load_config(path, ["optim.max_steps=30"]).optim.max_steps == 30
    assert load_config(write_config(), ["optim.epochs=2"]).optim.max_steps is None
    # Both in the file: say what to do.
    both = write_config(name="both.yaml", optim={"max_steps": 3, "epochs": 1})
    assert main(["validate", str(both)]) == 2
    err = capsys.readouterr().err
    assert "  - optim: give exactly one of max_steps or epochs (got max_steps=3, epochs=1.0)" in err
    assert "--set" in err


def test_one_command_shape_and_the_older_flag(write_config, capsys):
    path = str(write_config())
    assert main(["validate", path]) == 0  # VERB CONFIG, as every package's CLI (core/cli.py)
    with pytest.raises(SystemExit) as stop:  # the config given twice (positional and --config)
        main(["train", path, "--config", path])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "parallel:" in text and '[allowed: none, ddp, fsdp; default: "none"]' in text
