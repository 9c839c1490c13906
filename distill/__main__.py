"""`python -m distill train|validate CONFIG [--set key=value ...]`: train a draft from a dataset id.

    python -m distill validate distill/configs/seqkd.yaml --set dataset.config=t0_7
    python -m distill train distill/configs/online_fkl.yaml --set run.output_dir=drafts/x [--resume]

`train|validate --config CONFIG` (the older spelling) still works. User mistakes exit 2 with every problem
listed (core/cli.py); `python -m distill train --help` lists every config field, its allowed values and
default.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from core.cli import add_config_arguments, command_parser, run_command
from core.provenance import recorded_command


def _parser() -> argparse.ArgumentParser:
    from distill.config import config_reference

    parser = command_parser("python -m distill", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train a draft (writes run.output_dir)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config fields (YAML sections; --set section.field=value):\n" + config_reference(),
    )
    add_config_arguments(train, "distill config YAML", optional=True)
    train.add_argument(
        "--config", dest="config_flag", metavar="CONFIG", help="the same, as a flag (older form)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in run.output_dir"
    )
    validate = sub.add_parser("validate", help="check a config, its dataset and teacher without training")
    add_config_arguments(validate, "distill config YAML", optional=True)
    validate.add_argument(
        "--config", dest="config_flag", metavar="CONFIG", help="the same, as a flag (older form)"
    )
    return parser


def _config_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    flag = getattr(args, "config_flag", None)
    if (args.config is None) == (flag is None):
        parser.error("give the config once: `train CONFIG` (or the older `train --config CONFIG`)")
    return args.config or flag


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    path = _config_path(parser, args)
    return run_command(lambda: _run(args, path, argv))


def _run(args: argparse.Namespace, path: str, argv: list[str]) -> int:
    from distill.checks import check
    from distill.config import load_config

    cfg = load_config(path, args.overrides)
    setup = check(cfg, origin=path)
    if args.command == "validate":
        resolved = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        print(resolved.rstrip())  # the config as training will use it, defaults filled in
        print(
            f"{path}: ok ({cfg.loss.mode} on {setup.num_rows} rows of {cfg.dataset.id} "
            f"[{cfg.dataset.config}/{cfg.dataset.split}], temperatures {setup.temperatures})"
        )
        return 0
    from distill.train import train

    train(setup, recorded_command("python -m distill", argv), resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
