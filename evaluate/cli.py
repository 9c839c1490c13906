"""`python -m evaluate run|validate|search|search-validate CONFIG [--set key=value ...]`.

    python -m evaluate run eval.yaml
    python -m evaluate run --target smollm2-135m-instruct --drafts runs/d1 --drafts runs/d2 \\
        --prompts prompts.jsonl --temperatures 0,0.5,1 --output-dir runs/eval
    python -m evaluate validate eval.yaml        # exit 0, or every problem with its field path (exit 2)

Writes <output_dir>/results.json (with the resolved config, the exact command, device and versions),
results.md and PNG plots; progress (with an overall ETA) and each phase's wall time go to stderr. Besides
`--set`, each field of the schema in config.py is also a flag (`--output-dir X`), so `--help` shows each
field's description, allowed values and default. `search` and `search-validate`: evaluate/search/cli.py.
User mistakes exit 2 with every problem listed (core/cli.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from core.cli import add_config_arguments, command_parser, field_help, run_command
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


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("python -m evaluate", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the sweep and write results"),
        ("validate", "check a config and exit"),
        ("search", "find the pool mixture that maximizes predicted speedup (see: search --help)"),
        ("search-validate", "check a search config and exit"),
    ):
        p = sub.add_parser(name, help=help_text)
        add_config_arguments(
            p, "YAML config file (optional when every required flag is given)", optional=True
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
    return run_command(lambda: _run(args, values, sys.argv[1:] if argv is None else argv))


def _run(args: argparse.Namespace, values: dict[str, Any], argv: list[str]) -> int:
    cfg = load_config(args.config, args.overrides, values)
    if args.command == "validate":
        print(yaml.safe_dump(cfg.model_dump(), sort_keys=False), end="")
        return 0

    from evaluate.report import write_report
    from evaluate.sweep import run_sweep

    results = run_sweep(cfg, recorded_command("python -m evaluate", argv))
    paths = write_report(results, cfg.output_dir)
    print(Path(paths["markdown"]).read_text(), end="")
    for kind, path in paths.items():
        print(f"[evaluate] wrote {kind}: {path}", file=sys.stderr)
    return 0
