"""Command line for the builder.

    python -m builders validate recipes/mix_high_temp.yaml [--set key=value ...]   # check, print resolved recipe
    python -m builders run recipes/mix_high_temp.yaml [--set key=value ...] [--dry-run] [--verbose]

`validate` and `run --dry-run` make the same checks (builders/check.py: schema, every prompt source
read, requests planned within `limits`, mixture against the planned pool) and load no model.
User mistakes (bad recipe, unknown teacher, missing file, broken source line) print every problem with
its field path and exit with code 2, without a traceback and without writing anything.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import yaml

from builders.config import load_recipe
from core.errors import TempdraftError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m builders", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("validate", "check a recipe and print it resolved"), ("run", "build the dataset")):
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("recipe", help="path to a recipe YAML")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override, value in YAML: --set sampling.temperatures=[0,1]")
        if name == "run":
            sp.add_argument("--dry-run", action="store_true", help="print request count and token budget, load no model")
            sp.add_argument("--verbose", action="store_true",
                            help="show the engine's own logs (vLLM INFO/WARNING, torch warnings)")
    return p


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
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        if args.command == "validate" or args.dry_run:
            from builders.check import check_recipe

            # the same checks for both; validate stays offline (no Hub reads, pools may be unbuilt)
            summary = check_recipe(recipe, Path(args.recipe).parent, offline=args.command == "validate")
            if args.command == "run":
                print(summary)
                return 0
            print(f"# {args.recipe}: OK (resolved, defaults filled in)\n# {summary}")
            print(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), end="")
            return 0
        from builders.build import run_build

        run_build(recipe, Path(args.recipe).parent, argv, dry_run=args.dry_run)
        return 0
    except TempdraftError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
