"""Property: whatever bytes a recipe file holds, `validate` and `run --dry-run` either exit 2 naming every
problem's field path, or exit 0 with a plan, in bounded time and memory, writing nothing. Never a traceback.

    .venv/bin/python -m pytest tests/builders/test_recipe_fuzz.py -q      # ~20 s, fixed seed, 400 examples
    FUZZ_EXAMPLES=5000 FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/builders/test_recipe_fuzz.py  # more

Recipes are the shipped ones (recipes/**.yaml) mutated structurally (values replaced with hostile ones, keys
dropped, renamed or wrapped, lists emptied or repeated), mutated as text (duplicate keys, anchors and
aliases, truncation, flipped bytes), or raw bytes. The CLI runs in-process. `--set limits.max_requests=3000`
keeps every accepted plan small, so an example costs at most a fraction of a second.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from builders.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    p.relative_to(ROOT).as_posix(): yaml.safe_load(p.read_text())
    for p in sorted(ROOT.glob("recipes/**/*.yaml"))
}
LIMIT = ["--set", "limits.max_requests=3000"]
PROBLEM_REPORT = re.compile(r"^error: .+: \d+ problem\(s\)\n(  - [^\n]+: [^\n]+\n)+\Z")
MAX_SECONDS = 10.0
MAX_RSS_MB = 3000

HOSTILE_STRINGS = [
    "",
    " ",
    "{",
    "}",
    "{0}",
    "{}",
    "{question.upper}",
    "{question!r}",
    "{question:>99}",
    "{question[0]}",
    "{{question}}",
    "{question}",
    "a/b",
    "@",
    "..",
    "~",
    "/nonexistent/x.jsonl",
    "x" * 200,
    "t0.7",
    "\x00",
    "é",
    "ray",
    "local",
    "hub",
    "file",
    "generator",
    "auto",
    "1e-8",
    ".inf",
    "nan",
    "-1",
    "smollm2-135m-instruct",
    "org/name",
    "grid_pool@latest",
]
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 3, 7, 100, 10**6, 10**9, 10**12, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e-9, 1e-8, 1e-6, 0.1, 0.5, 1.0, 1.5, 99.0, 1e300, float("inf"), float("nan")]),
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=12),
    st.integers(0, 64),
    st.floats(0, 2),  # plausible values, so that many mutants still plan
)
hostile = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(data: dict, draw: Any) -> dict:
    path = draw(st.sampled_from(_paths(data)[1:] or [("name",)]))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    action = draw(
        st.sampled_from(["replace", "replace", "replace", "drop", "rename", "wrap", "repeat", "empty"])
    )
    if action == "replace" or (action in ("drop", "rename") and isinstance(parent, list)):
        parent[key] = draw(hostile)
    elif action == "drop":
        del parent[key]
    elif action == "rename":
        parent[draw(st.sampled_from([str(key) + "s", str(key)[:-1], str(key).upper(), "limits", "kind"]))] = (
            parent.pop(key)
        )
    elif action == "wrap":
        parent[key] = [parent[key]]
    elif action == "repeat" and isinstance(parent[key], list):
        parent[key] = parent[key] * draw(st.integers(2, 3))
    elif action == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], list | dict | str) else None
    return data


def _text_mutation(text: str, draw: Any) -> str:
    kind = draw(
        st.sampled_from(["dup_key", "dup_nested", "anchor_cycle", "alias_bomb", "truncate", "flip", "tab"])
    )
    if kind == "dup_key":
        return text + "\nname: again\n"
    if kind == "dup_nested":
        return re.sub(r"^(\s+)(\w+): (.*)$", r"\1\2: \3\n\1\2: \3", text, count=1, flags=re.M)
    if kind == "anchor_cycle":
        return text + "\nloop: &loop [*loop]\n"
    if kind == "alias_bomb":
        lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
        return text + "\n" + "\n".join(lines) + "\n"
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "tab":
        return text.replace("  ", "\t", 1)
    i = draw(st.integers(0, max(len(text) - 1, 0)))
    return (
        text[:i]
        + draw(st.sampled_from(["{", "[", ":", "&", "*", "!", "%", "'", '"', "\n  -"]))
        + text[i + 1 :]
    )


@st.composite
def recipe_bytes(draw: Any) -> bytes:
    mode = draw(st.sampled_from(["structure", "structure", "structure", "text", "raw"]))
    if mode == "raw":
        return draw(st.binary(max_size=200))
    data = copy.deepcopy(SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))])
    for _ in range(draw(st.integers(0, 3))):  # 0: a shipped recipe as is, which must plan
        data = _mutate(data, draw)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()))
    if mode == "text":
        text = _text_mutation(text, draw)
    return text.encode("utf-8", errors="surrogatepass")


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


@pytest.fixture(scope="module")
def warm() -> None:
    """Import what planning imports (reasoning-gym, polars, datasets) once, outside the timed examples."""
    with tempfile.TemporaryDirectory() as home, pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        mp.setenv("TEMPDRAFT_HOME", home)
        # Module fixtures run before the autouse one that sets these; datasets reads them at import.
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        for name in sorted(SHIPPED):
            _run(["validate", name, *LIMIT])


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 400)),
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(blob=recipe_bytes(), command=st.sampled_from([["validate"], ["run", "--dry-run"]]))
def test_any_recipe_gives_exit_2_with_paths_or_a_plan(
    blob: bytes, command: list[str], monkeypatch, tmp_path, warm
):
    monkeypatch.chdir(ROOT)  # the shipped recipes name ../shared/data relative to the project root
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.setenv("TEMPDRAFT_HOME", str(home))
    recipe = home.parent / f"{home.name}.yaml"
    recipe.write_bytes(blob)
    t0 = time.perf_counter()
    rc, err = _run([command[0], str(recipe), *command[1:], *LIMIT])
    seconds = time.perf_counter() - t0
    event(f"exit {rc}")
    assert rc in (0, 2), err
    if rc == 2:
        assert PROBLEM_REPORT.match(err), f"not a field-path report:\n{err}"
    assert seconds < MAX_SECONDS, f"{seconds:.1f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < MAX_RSS_MB
    # Nothing written, except the catalog the registry opens to look a `pool` up.
    written = [p for p in home.rglob("*") if p.is_file() and not p.name.startswith("catalog.sqlite")]
    assert not written, written


def test_fuzz_reaches_both_outcomes(tmp_path, monkeypatch):
    """The generator is not vacuous: unmutated shipped recipes plan (exit 0), a mutated one is refused."""
    monkeypatch.chdir(ROOT)
    assert _run(["validate", "recipes/mix_high_temp.yaml", *LIMIT])[0] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SHIPPED["recipes/mix_high_temp.yaml"], "name": "{0}"}))
    rc, err = _run(["run", str(bad), "--dry-run", *LIMIT])
    assert rc == 2 and PROBLEM_REPORT.match(err) and "  - name: " in err
    assert os.environ["TEMPDRAFT_HOME"]  # the autouse fixture isolates the home
