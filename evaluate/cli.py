"""Command line: `python -m evaluate run|validate [CONFIG.yaml] [--set key=value ...] [--<field> value ...]`.

    python -m evaluate run eval.yaml
    python -m evaluate run --target smollm2-135m-instruct --drafts runs/d1 --drafts runs/d2 \\
        --prompts prompts.jsonl --temperatures 0,0.5,1 --output-dir runs/eval
    python -m evaluate validate eval.yaml        # exit 0, or every problem with its field path (exit 2)

Writes <output_dir>/results.json (with the resolved config, the exact command, device and versions),
results.md and PNG plots; progress (with an overall ETA) and each phase's wall time go to stderr. Flags
are generated from the schema in config.py, so `--help` shows each field's description, allowed values and
default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo

from core.errors import ConfigError, TempdraftError
from core.provenance import recorded_command
from evaluate.config import EvalConfig, load_config


def _flag_value(field: str, raw: list[str]) -> Any:
    """Flag text is YAML; list fields take repeated flags and/or comma-separated items."""
    annotation = str(EvalConfig.model_fields[field].annotation)
    if annotation.startswith("list["):
        items: list[Any] = []
        for text in raw:
            value = yaml.safe_load(text)
            if isinstance(value, list):
                items += value
            elif isinstance(value, str) and "," in value:
                items += [yaml.safe_load(x) for x in value.split(",") if x.strip()]
            else:
                items.append(value)
        return items
    return yaml.safe_load(raw[-1])


def _allowed(annotation: Any) -> list[Any]:
    """Every Literal value anywhere in a field's type (`list[Literal[...]]`, `int | Literal["auto"]`)."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return [v for arg in get_args(annotation) for v in _allowed(arg)]


def field_help(info: FieldInfo) -> str:
    """A field's description, its allowed values and its default (or 'required'), all from the schema."""
    notes = []
    # `int | Literal["auto"]`: name the non-Literal member too ("an int or auto", not just "auto").
    union = get_origin(info.annotation) in (Union, UnionType)
    members = [
        a for a in get_args(info.annotation) if union and get_origin(a) is not Literal and a is not type(None)
    ]
    typed = [f"an {getattr(get_args(a)[0] if get_args(a) else a, '__name__', a)}" for a in members]
    if allowed := typed + _allowed(info.annotation):
        notes.append("allowed: " + ", ".join(map(str, allowed)))
    notes.append("required" if info.is_required() else f"default: {json.dumps(info.get_default())}")
    return f"{info.description or ''} [{'; '.join(notes)}]".replace("%", "%%")  # argparse formats %


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the sweep and write results"),
        ("validate", "check a config and exit"),
        ("search", "find the pool mixture that maximizes predicted speedup (see: search --help)"),
        ("search-validate", "check a search config and exit"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "config", nargs="?", help="YAML config file (optional when every required flag is given)"
        )
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config field; the value is YAML",
        )
        for field, info in EvalConfig.model_fields.items():
            p.add_argument(
                f"--{field.replace('_', '-')}",
                dest=f"field_{field}",
                action="append",
                metavar="VALUE",
                help=field_help(info),
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] in (["search"], ["search-validate"]):  # the recipe search has its own schema and flags
        from evaluate.search.cli import main as search_main

        return search_main(raw[0], raw[1:])
    args = build_parser().parse_args(argv)
    values = {
        f.removeprefix("field_"): _flag_value(f.removeprefix("field_"), v)
        for f, v in vars(args).items()
        if f.startswith("field_") and v is not None
    }
    try:
        cfg = load_config(args.config, args.set, values)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.command == "validate":
        print(yaml.safe_dump(cfg.model_dump(), sort_keys=False), end="")
        return 0

    from evaluate.report import write_report
    from evaluate.sweep import run_sweep

    command = recorded_command("python -m evaluate", sys.argv[1:] if argv is None else argv)
    try:
        results = run_sweep(cfg, command)
    except TempdraftError as e:  # a user mistake found while running (e.g. vocabularies differ): no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = write_report(results, cfg.output_dir)
    print(Path(paths["markdown"]).read_text(), end="")
    for kind, path in paths.items():
        print(f"[evaluate] wrote {kind}: {path}", file=sys.stderr)
    return 0
