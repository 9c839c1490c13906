"""The config-file mechanics shared by builders recipes, distill configs and evaluate configs.

    data = read_mapping(path, what="recipe")          # YAML file -> dict, or RecipeError
    apply_overrides(data, ["sampling.top_p=0.9"])     # dotted `--set key=value`, values are YAML
    Recipe.model_validate(data)                       # ValidationError -> pydantic_problems(err, ...)

Each package keeps its own schema and semantic checks; this module only reads, overrides and turns a
pydantic `ValidationError` into (dotted field path, message) problems. Every error is a `RecipeError`
(or the subclass passed as `error`), raised once with all problems found at that step.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from builders.errors import RecipeError


def read_mapping(path: str | Path, what: str = "recipe",
                 error: type[RecipeError] = RecipeError) -> dict[str, Any]:
    """The YAML mapping in `path` (an empty file is `{}`); `what` names the file in messages."""
    path = Path(path)
    if not path.is_file():
        raise error([("", f"no such {what} file: {path}")], origin=str(path))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise error([("", f"not valid YAML: {e}")], origin=str(path)) from None
    if not isinstance(data, dict):
        raise error([("", f"a {what} is a YAML mapping")], origin=str(path))
    return data


def parse_override(text: str, error: type[RecipeError] = RecipeError) -> tuple[list[str], Any]:
    """`sampling.temperatures=[0,1]` -> (['sampling', 'temperatures'], [0, 1]); values are YAML."""
    if "=" not in text:
        raise error([(text, "an override is written key.path=value")], origin="--set")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else None


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


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], what: str = "recipe",
                    error: type[RecipeError] = RecipeError) -> None:
    """Apply every `key.path=value` in order; overrides that cannot apply are reported together."""
    problems = []
    for text in overrides:
        keys, value = parse_override(text, error)
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
