"""Malformed recipes: every problem listed with its field path, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from builders.check import check_recipe
from builders.cli import main
from builders.config import load_recipe
from core.errors import RecipeError, TempdraftError
from tests.builders.conftest import run_builder

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
    with pytest.raises(RecipeError) as err:  # the columns are checked where the prompts are read
        check_recipe(load_recipe(tmp_path / "r.yaml"), tmp_path)
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
    proc = run_builder(recipe, None)
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


# --- issue 14, class 4: recipe validation. Each case runs the CLI in-process: exit 2, the field path named,
# no traceback, nothing written. `validate` and `run --dry-run` make the same checks (builders/check.py).


def _cli(tmp_path: Path, text: str | bytes, *args: str, command: tuple[str, ...] = ("validate",)
         ) -> tuple[int, str]:
    import contextlib
    import io

    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main([command[0], str(recipe), *command[1:], *args])
    return rc, err.getvalue()


def _refused(tmp_path: Path, text: str | bytes, path: str, fragment: str, *args: str) -> None:
    for command in (("validate",), ("run", "--dry-run")):
        rc, err = _cli(tmp_path, text, *args, command=command)
        assert rc == 2, (command, err)
        assert f"  - {path}: " in err and fragment in err, (command, err)
    assert not (tmp_path / "tempdraft_home").exists()


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "a?"}\n{"question": "b?"}\n{"question": 3\n')
    return path


def _file_recipe(path: Path, **source) -> dict:
    return _with("sources", [{"kind": "file", "path": str(path), **source}])


@pytest.mark.parametrize(("template", "fragment"), [
    ("{question", "not a valid template"),
    ("{0}", "{0} is not a plain column name"),
    ("{}", "{} is not a plain column name"),
    ("{question.upper}", "{question.upper} is not a plain column name"),
    ("{question[0]}", "is not a plain column name"),
    ("{question!r}", "{question!r} is not a plain column name"),
    ("{question:>{width}}", "is not a plain column name"),
])
def test_template_is_plain_named_fields(tmp_path, jsonl, template, fragment):
    _refused(tmp_path, _yaml(_file_recipe(jsonl, template=template, limit=1)), "sources.0.template", fragment)


def test_template_unknown_column_names_the_line(tmp_path, jsonl):
    _refused(tmp_path, _yaml(_file_recipe(jsonl, template="Q: {query}", limit=1)), "sources.0.template",
             "q.jsonl line 1: no column 'query'")


def test_template_with_literal_braces_renders(tmp_path, jsonl):
    from builders.recipe import FileSource
    from builders.sources import load_file_source

    src = FileSource(kind="file", path=str(jsonl), template="{{x}} {question}", limit=2)
    assert [p.prompt for p in load_file_source(src, tmp_path)] == ["{x} a?", "{x} b?"]


@pytest.mark.parametrize(("temperatures", "path"), [
    ("[0.0, .inf]", "sampling.temperatures.1"),
    ("[.nan]", "sampling.temperatures.0"),
    ("{start: 0, stop: .inf, step: 0.1}", "sampling.temperatures.stop"),
    ("{start: 0, stop: 1, step: .nan}", "sampling.temperatures.step"),
])
def test_every_number_is_finite(tmp_path, temperatures, path):
    text = _yaml(GOOD).replace("temperatures:\n  - 0.0\n  - 1.0", f"temperatures: {temperatures}")
    assert temperatures in text
    _refused(tmp_path, text, path, "finite number")


def test_inf_in_mixture_and_top_p(tmp_path):
    data = _with("mixture", {"total_rows": 2, "components": [{"temperatures": {"min": 0, "max": float("inf")},
                                                               "weight": 1}]})
    data["sampling"]["top_p"] = float("nan")
    rc, err = _cli(tmp_path, _yaml(data))
    assert rc == 2 and "mixture.components.0.temperatures.max" in err and "sampling.top_p" in err


def test_self_referencing_anchor(tmp_path):
    _refused(tmp_path, _yaml(GOOD) + "extra: &loop\n  again: *loop\n", "extra.again", "recursive")


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]  # 10^9 values
    t0 = time.perf_counter()
    _refused(tmp_path, _yaml(GOOD) + "\n".join(lines) + "\n", "a4", "expands to more than 100,000 values")
    assert time.perf_counter() - t0 < 5


def test_deep_nesting(tmp_path):
    _refused(tmp_path, "name: " + "[" * 1200 + "]" * 1200 + "\n", "<root>", "nested deeper than 64 levels")
    block = "".join("  " * i + "a:\n" for i in range(70)) + "  " * 70 + "1\n"  # block nesting: at its path
    rc, err = _cli(tmp_path, block)
    assert rc == 2 and "  - a.a.a.a." in err and "nested deeper than 64 levels" in err


@pytest.mark.parametrize(("blob", "fragment"), [
    (b"\xff\xfename: x\n", "not UTF-8 text (byte 0xff at offset 0)"),
    (b"name: caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 9)"),
    (bytes(range(256)), "not UTF-8 text"),
    (b"name: a\x00b\n", "not valid YAML"),
    (b"\x7fELF\x02\x01\x01", "not valid YAML"),
])
def test_binary_or_non_utf8_file(tmp_path, blob, fragment):
    _refused(tmp_path, blob, "<root>", fragment)


def test_oversized_file(tmp_path):
    t0 = time.perf_counter()
    _refused(tmp_path, _yaml(GOOD) + "#" * (1 << 20), "<root>", "a recipe file is at most 65,536 bytes")
    assert time.perf_counter() - t0 < 5


def test_duplicate_keys_at_any_depth(tmp_path):
    text = _yaml(GOOD)
    _refused(tmp_path, text + "name: again\n", "name", "duplicate key (lines 1 and")
    nested = text.replace("sampling:\n", "sampling:\n  top_p: 0.5\n  top_p: 0.9\n")
    _refused(tmp_path, nested, "sampling.top_p", "duplicate key")
    _refused(tmp_path, text, "x.a", "duplicate key", "--set", "x={a: 1, a: 2}")


def test_override_value_that_is_not_yaml(tmp_path):
    _refused(tmp_path, _yaml(GOOD), "sampling.temperatures", "not valid YAML",
             "--set", "sampling.temperatures=[0,")


def test_broken_later_jsonl_line_is_caught_by_validate_and_run(tmp_path, jsonl):
    text = _yaml(_file_recipe(jsonl, prompt_column="question"))
    _refused(tmp_path, text, "sources.0.path", "q.jsonl line 3: not a JSON line")
    rc, err = _cli(tmp_path, text, command=("run",))  # a real run stops at the same line, before any model
    assert rc == 2 and "q.jsonl line 3" in err
    assert not (tmp_path / "tempdraft_home").exists()


@pytest.mark.parametrize(("lines", "fragment"), [
    ('{"question": "a?"}\n[1, 2]\n', "line 2: expected an object"),
    ('{"question": "a?"}\n{"question": null}\n', "line 2: column 'question' is not text"),
    ('{"question": "a?"}\n{"other": "b"}\n', "column 'question' not in q.jsonl line 2"),
    ('{"question": "a?"}\n\xff\n', "line 2: not a JSON line"),
])
def test_every_jsonl_record_is_checked(tmp_path, lines, fragment):
    path = tmp_path / "q.jsonl"
    path.write_bytes(lines.encode("latin-1"))
    rc, err = _cli(tmp_path, _yaml(_file_recipe(path, prompt_column="question")))
    assert rc == 2 and fragment in err, err


def test_limit_stops_reading_before_a_broken_tail(tmp_path, jsonl):
    assert _cli(tmp_path, _yaml(_file_recipe(jsonl, prompt_column="question", limit=2)))[0] == 0


def test_one_name_rule_for_recipe_and_registry(tmp_path):
    from core.names import DATASET_NAME_MAX
    from registry.store import check_name

    longest, too_long = "a" * DATASET_NAME_MAX, "a" * (DATASET_NAME_MAX + 1)
    assert check_name(longest) == longest
    with pytest.raises(TempdraftError, match="at most 96 characters"):
        check_name(too_long)
    assert _cli(tmp_path, _yaml(_with("name", longest)))[0] == 0
    _refused(tmp_path, _yaml(_with("name", too_long)), "name", "at most 96 characters")


def test_impossible_mixture_is_refused_by_validate(tmp_path):
    data = _with("mixture", {"total_rows": 100, "components": [{"temperatures": [1.0], "weight": 1}]})
    _refused(tmp_path, _yaml(data), "mixture.components.0.weight", "asks for 100 rows but the pool holds 4")


# --- issue 14, class 5: bounded work. The bounds are `limits.*`, raised with --set.


def _timed_refusal(tmp_path: Path, data: dict, path: str, fragment: str, *args: str) -> None:
    t0 = time.perf_counter()
    _refused(tmp_path, _yaml(data), path, fragment, *args)
    assert time.perf_counter() - t0 < 5


def test_tiny_temperature_step(tmp_path):
    _timed_refusal(tmp_path, _with("sampling.temperatures", {"start": 0, "stop": 1, "step": 1e-8}),
                   "sampling.temperatures.step", "greater than or equal to 0.000001")
    _timed_refusal(tmp_path, _with("sampling.temperatures", {"start": 0, "stop": 100, "step": 1e-6}),
                   "sampling.temperatures", "--set limits.max_temperatures=N")


def test_huge_generator_and_request_counts(tmp_path):
    _timed_refusal(tmp_path, _with("sources.0.size", 10**9), "sources.0.size", "--set limits.max_requests=N")
    _timed_refusal(tmp_path, _with("sampling.samples_per_prompt", 10**9), "limits.max_requests",
                   "4,000,000,004 requests")
    _timed_refusal(tmp_path, _with("sources.0.size", 10), "limits.max_requests",
                   "above limits.max_requests=3", "--set", "limits.max_requests=3")


def test_file_source_beyond_the_bound_stops_reading(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(f'{{"question": "q{i}?"}}\n' for i in range(50)) + "not json\n")
    data = _file_recipe(path, prompt_column="question")
    _timed_refusal(tmp_path, data, "sources.0.limit", "more than 10 prompts",
                   "--set", "limits.max_requests=20")


def test_huge_mixture(tmp_path):
    data = _with("mixture", {"total_rows": 10**12, "replacement": True,
                             "components": [{"temperatures": [1.0], "weight": 1}]})
    _timed_refusal(tmp_path, data, "mixture.total_rows", "--set limits.max_mixture_rows=N")


def test_raising_a_bound_and_fingerprint(tmp_path):
    from builders.build import fingerprint

    data = _with("sources.0.size", 3)
    rc, err = _cli(tmp_path, _yaml(data), "--set", "limits.max_requests=5")
    assert rc == 2 and "limits.max_requests" in err
    assert _cli(tmp_path, _yaml(data), "--set", "limits.max_requests=6", command=("run", "--dry-run"))[0] == 0
    (tmp_path / "r.yaml").write_text(_yaml(data))
    a = load_recipe(tmp_path / "r.yaml")
    b = load_recipe(tmp_path / "r.yaml", ["limits.max_requests=7", "limits.max_temperatures=3"])
    assert fingerprint(a, None) == fingerprint(b, None)  # bounds never change which rows are built
