"""The command shape every package shares: `python -m <package> VERB CONFIG [--set key=value ...]`.

    parser = command_parser("python -m distill", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_config_arguments(sub.add_parser("validate", help="..."), "distill config YAML")
    return run_command(lambda: _run(parser.parse_args(argv)))

`run_command` is the one place a user mistake becomes a message: a `TempdraftError` (bad config, unknown
dataset, ...) prints `error: ...` on stderr and exits 2, without a traceback; `codes` maps other error
types to their own exit codes (the registry's Hub failures: 1). `field_help` and `schema_reference` turn a
pydantic schema into `--help` text, with each field's allowed values and default.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.errors import TempdraftError


def command_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The top-level parser: `prog`, the module docstring's first paragraph, line breaks kept."""
    return argparse.ArgumentParser(
        prog=prog,
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_config_arguments(parser: argparse.ArgumentParser, what: str, optional: bool = False) -> None:
    """The positional CONFIG (`args.config`) and the repeatable `--set KEY=VALUE` (`args.overrides`)."""
    parser.add_argument("config", nargs="?" if optional else None, help=what)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, the value in YAML: --set a.b=[0,1] (repeatable)",
    )


def run_command(body: Callable[[], int | None], codes: Mapping[type[BaseException], int] = {}) -> int:
    """`body()`'s exit code (None = 0); a user mistake -> `error: ...` on stderr and exit 2 (or `codes`)."""
    try:
        return body() or 0
    except TempdraftError as e:
        code = next((c for kind, c in codes.items() if isinstance(e, kind)), 2)
        print(f"error: {e}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130


def allowed_values(annotation: Any) -> list[Any]:
    """Every Literal value anywhere in a field's type (`list[Literal[...]]`, `int | Literal["auto"]`)."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [v for arg in get_args(annotation) for v in allowed_values(arg)]


_TYPE_NAMES = {"int": "an int", "float": "a number", "str": "a string", "bool": "true or false"}


def _type_name(annotation: Any) -> str:
    inner = get_args(annotation)[0] if get_args(annotation) else annotation  # list[int] -> int
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "section"  # its fields are listed below it
    return str(getattr(inner, "__name__", inner))


def field_help(info: FieldInfo) -> str:
    """A field's description, its allowed values and its default (or 'required'), all from the schema."""
    notes = []
    # `int | Literal["auto"]`: name the non-Literal member too ("an int or auto", not just "auto").
    union = get_origin(info.annotation) in (Union, UnionType)
    members = [
        a for a in get_args(info.annotation) if union and not allowed_values(a) and a is not type(None)
    ]
    typed = [_TYPE_NAMES.get(n, f"a {n}") for a in members if (n := _type_name(a)) != "section"]
    if allowed := typed + allowed_values(info.annotation):
        notes.append("allowed: " + ", ".join(map(str, allowed)))
    if info.is_required():
        notes.append("required")
    else:
        default = info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):  # a section's default: its fields, as YAML would give them
            default = default.model_dump(mode="json")
        notes.append(f"default: {json.dumps(default, default=str)}")
    return f"{info.description or ''} [{'; '.join(notes)}]".replace("%", "%%")  # argparse formats %


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    """The section schemas a field holds: `Spec`, `Spec | None`, `list[Spec]`, or each kind of a
    discriminated union (`list[HubSource | FileSource]`); [] for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = [m for arg in get_args(annotation) for m in _submodels(arg)]
    return list(dict.fromkeys(found))


def _kind(model: type[BaseModel]) -> str:
    """How YAML picks `model` among a union's sections: its one-value Literal field (`kind: hub`)."""
    for name, info in model.model_fields.items():
        if len(values := allowed_values(info.annotation)) == 1:
            return f"{name}: {values[0]}"
    return model.__name__


def schema_reference(model: type[BaseModel], indent: str = "  ", prefix: str = "") -> list[str]:
    """`name: description [allowed: ...; default: ...]` per field of `model` (nested sections as
    `section.field`), for a `--help` epilog."""
    lines = []
    for name, info in model.model_fields.items():
        lines.append(f"{indent}{prefix}{name}: {field_help(info).replace('%%', '%')}")
        sections = _submodels(info.annotation)
        for section in sections:
            if len(sections) == 1:
                lines += schema_reference(section, indent + "  ", f"{prefix}{name}.")
            else:  # one block per kind of a union, headed by the value that selects it
                lines.append(f"{indent}  {prefix}{name} with {_kind(section)}:")
                lines += schema_reference(section, indent + "    ", f"{prefix}{name}.")
    return lines
