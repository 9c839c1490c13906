"""`python -m builders` as a user runs it: `--help` names each recipe field's allowed values, the manifest
records the command with Hub tokens masked, a bad recipe exits 2 naming every field and writes nothing.
A pool-composed recipe (no teacher, no engine) keeps the build to a second."""

from __future__ import annotations

import json

import pytest
import yaml

from builders.build import run_build
from builders.cli import main
from builders.config import load_recipe
from tests.registry.dataset_factory import make_dataset_folder

TOKEN = "hf_abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.parametrize("verb", ["run", "validate"])
def test_help_lists_allowed_values(verb, capsys):
    with pytest.raises(SystemExit) as stop:
        main([verb, "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert '[allowed: auto, default, all; default: "auto"]' in text  # engine.cpu_threads
    assert '[allowed: auto, bfloat16, float16, float32; default: "auto"]' in text  # teacher.dtype
    assert '[allowed: auto, vllm, transformers; default: "auto"]' in text  # engine.backend
    assert "[allowed: stop, length; default: null]" in text  # mixture.filters.finish_reason: list[Literal]
    # a union of sections lists each kind with its own fields
    for kind in ("sources with kind: hub:", "sources with kind: generator:", "executor with kind: ray:"):
        assert kind in text
    assert "executor.num_actors:" in text and "sources.dataset:" in text


@pytest.fixture
def mix_recipe(tmp_path, monkeypatch):
    """A recipe composing 2 rows from a small dataset folder, written to `tmp_path/out`."""
    monkeypatch.setenv("TEMPDRAFT_HOME", str(tmp_path / "home"))
    pool = make_dataset_folder(tmp_path, name="pool")
    recipe = {
        "name": "mix",
        "pool": str(pool),
        "mixture": {"total_rows": 2, "components": [{"temperatures": [0.0], "weight": 1}]},
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_recorded_command_masks_a_token(mix_recipe, tmp_path):
    # --verbose: leave this process's engine log settings alone
    assert main(["run", str(mix_recipe), "--set", f"description={TOKEN}", "--verbose"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    # the recipe's absolute path is recorded by its name (core/public.py), the token as hf_***
    assert manifest["command"] == "python -m builders run mix.yaml --set 'description=hf_***' --verbose"
    assert "hf_***" in (tmp_path / "out" / "README.md").read_text()
    # nowhere in the folder: not in the manifest's recorded recipe, the card or any other file
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".md", ".yaml", ".txt"):
            assert TOKEN not in f.read_text(), f
    assert manifest["recipe"]["description"] == "hf_***"


def test_run_build_masks_whoever_recorded_the_command(mix_recipe, tmp_path):
    unmasked = f"python -m builders run mix.yaml --set description={TOKEN}"  # not via recorded_command
    built = run_build(load_recipe(mix_recipe, [f"description={TOKEN}"]), tmp_path, unmasked)
    assert built.path is not None
    manifest = json.loads((built.path / "manifest.json").read_text())
    assert manifest["command"] == "python -m builders run mix.yaml --set 'description=hf_***'"


@pytest.mark.parametrize("verb", ["run", "validate"])
def test_bad_recipe_exits_2_naming_fields_and_writes_nothing(verb, mix_recipe, tmp_path, capsys):
    data = yaml.safe_load(mix_recipe.read_text())
    data["mixture"]["total_rows"] = -1
    data["engine"] = {"cpu_threads": "many"}
    mix_recipe.write_text(yaml.safe_dump(data))
    assert main([verb, str(mix_recipe), "--set", "seed=x", *(["--verbose"] if verb == "run" else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for path in ("mixture.total_rows", "engine.cpu_threads", "seed"):
        assert f"  - {path}: " in err, err
    assert "'default' or 'all'" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "home").exists()
