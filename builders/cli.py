"""`python -m builders validate|run RECIPE [--set key=value ...]`: check a recipe, or build its dataset.

    python -m builders validate recipes/mix_high_temp.yaml [--set key=value ...]  # check, print it resolved
    python -m builders run recipes/mix_high_temp.yaml [--set key=value ...] [--dry-run] [--verbose]

`validate` and `run --dry-run` make the same checks (builders/check.py: schema, every prompt source
read, requests planned within `limits`, mixture against the planned pool) and load no model.
User mistakes (bad recipe, unknown teacher, missing file, broken source line) print every problem with
its field path and exit with code 2, without a traceback and without writing anything (core/cli.py).
`python -m builders run --help` lists every recipe field, its allowed values and default.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import yaml

from builders.config import load_recipe
from builders.recipe import Recipe
from core.cli import add_config_arguments, command_parser, run_command, schema_reference
from core.provenance import recorded_command


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("python -m builders", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fields = "\n".join(
        ["recipe fields (YAML sections; --set section.field=value):", *schema_reference(Recipe)]
    )
    for name, help_text in (
        ("validate", "check a recipe and print it resolved"),
        ("run", "build the dataset"),
    ):
        sp = sub.add_parser(
            name, help=help_text, epilog=fields, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        add_config_arguments(sp, "path to a recipe YAML")
        if name == "run":
            sp.add_argument(
                "--dry-run", action="store_true", help="print request count and token budget, load no model"
            )
            sp.add_argument(
                "--verbose",
                action="store_true",
                help="show the engine's own logs (vLLM INFO/WARNING, torch warnings)",
            )
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Python's default SIGTERM handling skips `finally`; raising instead lets the engine shut down its
    # worker processes (vLLM's would otherwise outlive us). Finished shards are kept for the rerun.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = _parser().parse_args(argv)
    if args.command == "run" and not args.verbose:
        from builders.backends.vllm_env import quiet_engine_logs

        quiet_engine_logs()  # before vLLM or torch is imported: their logging reads the environment then
    return run_command(lambda: _run(args, recorded_command("python -m builders", argv)))


def _run(args: argparse.Namespace, command: str) -> int:
    recipe = load_recipe(args.config, args.overrides)
    base_dir = Path(args.config).parent
    if args.command == "validate" or args.dry_run:
        from builders.check import check_recipe

        # the same checks for both; validate stays offline (no Hub reads, pools may be unbuilt)
        summary = check_recipe(recipe, base_dir, offline=args.command == "validate")
        if args.command == "run":
            print(summary)
            return 0
        print(f"# {args.config}: OK (resolved, defaults filled in)\n# {summary}")
        print(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), end="")
        return 0
    from builders.build import run_build

    run_build(recipe, base_dir, command)
    return 0
