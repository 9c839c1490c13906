"""Malformed recipes: every problem listed with its field path, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builders.cli import main
from builders.config import load_recipe
from builders.errors import RecipeError

GOOD = {
    "name": "ok",
    "teacher": {"model": "smollm2-135m-instruct"},
    "sources": [{"kind": "generator", "size": 4}],
    "sampling": {"temperatures": [0.0, 1.0]},
}


def _with(path: str, value) -> dict:
    import copy

    data = copy.deepcopy(GOOD)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return data


CASES = [
    ("unknown top-level key", _with("temprature", 1.0), "temprature", "Extra inputs"),
    ("unknown nested key", _with("sampling.max_tokens", 5), "sampling.max_tokens", "Extra inputs"),
    ("wrong type", _with("sampling.max_new_tokens", "many"), "sampling.max_new_tokens", "integer"),
    ("negative temperature", _with("sampling.temperatures", [0.5, -0.1]), "sampling.temperatures.1", "greater than or equal"),
    ("empty grid", _with("sampling.temperatures", []), "sampling.temperatures", "empty"),
    ("duplicate temperatures", _with("sampling.temperatures", [0.5, 0.5]), "sampling.temperatures", "duplicate"),
    ("unknown teacher", _with("teacher.model", "not-a-model"), "teacher.model", "unknown teacher"),
    ("unknown source kind", _with("sources.0", {"kind": "ftp", "size": 3}), "sources.0", "kind"),
    ("missing file", _with("sources.0", {"kind": "file", "path": "/nope.jsonl", "prompt_column": "q"}), "sources.0.path", "no such file"),
    ("top_p out of range", _with("sampling.top_p", 1.5), "sampling.top_p", "less than or equal"),
    ("bad backend", _with("engine.backend", "tgi"), "engine.backend", "'auto', 'vllm' or 'transformers'"),
    ("bad name", _with("name", "a/b"), "name", "not a valid dataset name"),
    ("mixture without total", _with("mixture", {"components": [{"temperatures": [1.0], "weight": 1}]}), "mixture", "total_rows"),
    ("mixture temperature missing from grid",
     _with("mixture", {"total_rows": 4, "components": [{"temperatures": [0.7], "weight": 1}]}),
     "mixture.components.0.temperatures", "selects no temperature"),
    ("mixture weight and rows", _with("mixture", {"components": [{"temperatures": [1.0], "weight": 1, "rows": 3}]}),
     "mixture.components.0", "exactly one of weight or rows"),
    ("no sources", _with("sources", []), "sources", "at least one"),
]


@pytest.mark.parametrize(("label", "data", "path", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_recipe_names_field(tmp_path: Path, label, data, path, fragment):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    problems = dict(err.value.problems)
    assert path in problems, f"{label}: expected a problem at {path!r}, got {problems}"
    assert fragment in problems[path], problems[path]


def test_missing_prompt_column(tmp_path, shared_data):
    data = _with("sources.0", {"kind": "file", "path": str(shared_data / "gsm8k/test.jsonl"), "prompt_column": "prompt"})
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "r.yaml")
    message = dict(err.value.problems)["sources.0.prompt_column"]
    assert "'prompt' not in test.jsonl" in message and "question" in message


def test_every_problem_is_listed_at_once(tmp_path):
    data = _with("sampling.temperatures", [-1.0])
    data["sampling"]["max_new_tokens"] = 0
    data["teacher"]["dtype"] = "int4"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "r.yaml")
    paths = {p for p, _ in err.value.problems}
    assert {"sampling.temperatures.0", "sampling.max_new_tokens", "teacher.dtype"} <= paths


def test_cli_exit_code_2_no_traceback_nothing_written(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TEMPDRAFT_HOME", str(home))
    data = _with("sampling.temperatures", [])
    data["bogus"] = 1
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(data))
    proc = subprocess.run([sys.executable, "-m", "builders", "run", str(recipe)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "sampling.temperatures" in proc.stderr and "bogus" in proc.stderr
    assert not home.exists()


def test_bad_override_and_bad_yaml(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(GOOD))
    assert main(["validate", str(recipe), "--set", "sampling.temperatures"]) == 2
    assert "key.path=value" in capsys.readouterr().err
    assert main(["validate", str(recipe), "--set", "sampling.top_p=2"]) == 2
    assert "sampling.top_p" in capsys.readouterr().err
    recipe.write_text("name: [unclosed")
    assert main(["validate", str(recipe)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_overrides_apply(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(GOOD))
    r = load_recipe(recipe, ["sampling.temperatures={start: 0.0, stop: 1.0, step: 0.25}", "sources.0.size=9",
                             "output.shard_size=7"])
    assert r.sampling.temperature_grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert r.sources[0].size == 9 and r.output.shard_size == 7
