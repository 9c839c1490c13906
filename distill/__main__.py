"""`python -m distill {train,validate}`: thin entry point; user mistakes exit 2 with every problem listed.

python -m distill validate distill/configs/seqkd.yaml --set dataset.config=t0_7
python -m distill train --config distill/configs/online_fkl.yaml --set run.output_dir=drafts/x [--resume]
"""

from __future__ import annotations

import argparse
import sys

import yaml

from core.errors import TempdraftError
from core.provenance import recorded_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m distill", description="Train a speculative-decoding draft from a dataset id."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from distill.config import config_reference

    train = sub.add_parser(
        "train",
        help="train a draft (writes run.output_dir)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config fields (YAML sections; --set section.field=value):\n" + config_reference(),
    )
    train.add_argument("--config", required=True, help="distill config YAML")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set loss.temperature=0.7 (repeatable)",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint in run.output_dir"
    )
    validate = sub.add_parser("validate", help="check a config, its dataset and teacher without training")
    validate.add_argument("config", help="distill config YAML")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from distill.config import load_config

    path = args.config
    try:
        cfg = load_config(path, args.overrides)
        from distill.checks import check

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

        command = recorded_command("python -m distill", argv)
        train(setup, command, resume=args.resume)
        return 0
    except TempdraftError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
