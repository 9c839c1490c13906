"""The config-file mechanics shared by builders recipes, distill configs and evaluate configs.

    data = read_mapping(path, what="recipe")          # YAML file -> dict, or ConfigError
    apply_overrides(data, ["sampling.top_p=0.9"])     # dotted `--set key=value`, values are YAML
    Recipe.model_validate(data)                       # ValidationError -> pydantic_problems(err, ...)

Each package keeps its own schema and semantic checks; this module only reads, overrides and turns a
pydantic `ValidationError` into (dotted field path, message) problems. Every error is a `ConfigError`
(or the subclass passed as `error`, e.g. `RecipeError`), raised once with all problems found at that step.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import ConfigError

# Bounds on the work a config file can cause. The largest shipped recipe is ~2 KB; PyYAML (pure Python)
# needs ~3 s for a pathological 64 KiB flow list on a busy 2-core box and is superlinear beyond, and YAML
# aliases can make a tiny file expand exponentially.
MAX_CONFIG_BYTES = 64 << 10
MAX_YAML_VALUES = 100_000  # scalars + collections, counting every alias expansion
MAX_YAML_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _YamlProblems(Exception):
    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _check_nodes(root: yaml.Node) -> None:
    """Raise _YamlProblems for duplicate keys (any depth), recursive aliases, and documents that nest too
    deep or expand (through aliases) to too many values. Each distinct node is visited once."""
    problems: list[tuple[str, str]] = []
    sizes: dict[int, int] = {}  # expanded value count per node already visited
    on_path: set[int] = set()

    def visit(node: yaml.Node, path: str, depth: int) -> int:
        if id(node) in on_path:
            problems.append((path, "a YAML alias refers to an anchor that contains it (recursive structure)"))
            return 0
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > MAX_YAML_DEPTH:
            raise _YamlProblems([(path, f"nested deeper than {MAX_YAML_DEPTH} levels")])
        on_path.add(id(node))
        n = 1
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "<complex key>"
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in first_line:
                        lines = f"lines {first_line[key.tag, key.value]} and {line}"
                        problems.append((_join(path, name), f"duplicate key ({lines}): YAML would silently "
                                                            "keep only the last"))
                    first_line.setdefault((key.tag, key.value), line)
                n += visit(key, _join(path, name), depth + 1) + visit(value, _join(path, name), depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            n += sum(visit(item, _join(path, i), depth + 1) for i, item in enumerate(node.value))
        on_path.discard(id(node))
        sizes[id(node)] = n
        if n > MAX_YAML_VALUES:
            problem = f"expands to more than {MAX_YAML_VALUES:,} values (through YAML aliases?)"
            raise _YamlProblems([(path, problem)])
        return n

    visit(root, "", 0)
    if problems:
        raise _YamlProblems(problems)


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops at the first flow collection nested too deep: PyYAML's scanner does work
    proportional to the flow depth for every token, so `[[[[...` is quadratic without this."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_YAML_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


def load_yaml(text: str, name: str) -> Any:
    """Safe-load one YAML document, rejecting duplicate keys, recursive aliases and alias bombs.
    Raises _YamlProblems with field paths (relative to the document root)."""
    loader = None
    try:
        loader = _Loader(text)  # raises already on characters YAML forbids (NUL, most controls)
        loader.name = name  # error marks say which file
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = ", ".join(x for x in (e.context, e.problem) if x)
        raise _YamlProblems([("", f"not valid YAML{where}: {what}")]) from None
    except yaml.YAMLError as e:
        raise _YamlProblems([("", f"not valid YAML: {e}")]) from None
    except RecursionError:
        raise _YamlProblems([("", f"not valid YAML: nested deeper than {MAX_YAML_DEPTH} levels")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_mapping(path: str | Path, what: str = "config",
                 error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The YAML mapping in `path` (an empty file is `{}`); `what` names the file in messages."""
    path = Path(path)
    if not path.is_file():
        raise error([("", f"no such {what} file: {path}")], origin=str(path))
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise error([("", f"a {what} file is at most {MAX_CONFIG_BYTES:,} bytes")], origin=str(path))
        raw = path.read_bytes()
    except OSError as e:
        raise error([("", f"cannot read the {what} file: {e.strerror or e}")], origin=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error([("", f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})")],
                    origin=str(path)) from None
    try:
        data = load_yaml(text, str(path))
    except _YamlProblems as e:
        raise error(e.problems, origin=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error([("", f"a {what} is a YAML mapping (got {type(data).__name__})")], origin=str(path))
    return data


def parse_override(text: str, error: type[ConfigError] = ConfigError) -> tuple[list[str], Any]:
    """`sampling.temperatures=[0,1]` -> (['sampling', 'temperatures'], [0, 1]); values are YAML."""
    if "=" not in text:
        raise error([(text, "an override is written key.path=value")], origin="--set")
    key, raw = text.split("=", 1)
    try:
        value = load_yaml(raw, "--set") if raw.strip() else None
    except _YamlProblems as e:
        problems = [(_join(key.strip(), p) if p else key.strip(), m) for p, m in e.problems]
        raise error(problems, origin="--set") from None
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set `value` at `path`; numeric parts index lists, missing (or null) parents are created."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if part not in node or node[part] is None:
            node[part] = [] if nxt.isdigit() else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], what: str = "config",
                    error: type[ConfigError] = ConfigError) -> None:
    """Apply every `key.path=value` in order; overrides that cannot apply are reported together."""
    problems = []
    for text in overrides:
        try:
            keys, value = parse_override(text, error)
        except ConfigError as e:
            problems += e.problems
            continue
        try:
            apply_override(data, keys, value)
        except (KeyError, IndexError, ValueError, TypeError):
            problems.append((".".join(keys), f"cannot apply this --set override to the {what}"))
    if problems:
        raise error(problems, origin="--set")


def pydantic_problems(err: ValidationError, hidden: Collection[str] = (),
                      hidden_prefixes: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """One (dotted field path, message) per pydantic error, naming what was received.

    Unions put their tags and member type names in an error's location; the user never wrote them, so
    location parts in `hidden` or starting with one of `hidden_prefixes` are left out of the path."""
    problems = []
    for e in err.errors():
        parts = [str(p) for p in e["loc"]]
        path = ".".join(p for p in parts if p not in hidden and not p.startswith(hidden_prefixes))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] not in ("missing", "union_tag_invalid") and "input" in e:
            received = e["input"]
            shown = "{...}" if isinstance(received, dict) else json.dumps(received, default=str)[:80]
            msg = f"{msg} (got {shown})"
        problems.append((path, msg))
    return problems
